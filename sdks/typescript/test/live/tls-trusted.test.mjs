// Over HTTPS with the office CA trusted through NODE_EXTRA_CA_CERTS (set by
// tests/sdks/test_typescript_tls.py, as the README tells): a call and a stream.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelProxyClient } from 'modelproxy-client';

const client = new ModelProxyClient(process.env.MODELPROXY_TEST_URL, process.env.MODELPROXY_TEST_TOKEN);
const messages = [{ role: 'user', content: 'over TLS' }];

test('a chat completion over https', async () => {
  const reply = await client.chatCompletion({ messages });
  assert.equal(reply.choices[0].message.content, 'echo: over TLS');
});

test('a stream over https', async () => {
  let text = '';
  for await (const chunk of client.chatCompletionStream({ messages })) text += chunk.choices[0]?.delta.content ?? '';
  assert.equal(text, 'echo: over TLS');
});
