// Armed by pytest: the provider answers the next request 429 with Retry-After: 1 (the
// proxy: 502 passing it on). pytest then checks the upstream saw 2 requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HELLO, clientFor } from './helpers.mjs';

test("a provider's short Retry-After is waited out, not the backoff", async () => {
  const started = Date.now();
  const client = clientFor('all', { maxRetries: 1, retryBackoff: 10 });
  const reply = await client.chatCompletion({ endpoint: '/api/chat', messages: HELLO });
  assert.equal(reply.choices[0].message.content, 'echo: Hello');
  assert.ok(Date.now() - started >= 1000, 'retried after the backoff, not the Retry-After');
});
