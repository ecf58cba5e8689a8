// Armed by pytest: the fake upstream fails the next 2 requests with 500 (the proxy: 502).
// pytest then checks the upstream saw 3 requests, all with this call's request id.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HELLO, clientFor } from './helpers.mjs';

test('502 twice, then success on the third attempt', async () => {
  const reply = await clientFor('all', { maxRetries: 2, retryBackoff: 50 }).chatCompletion({ endpoint: '/api/chat', messages: HELLO });
  assert.equal(reply.choices[0].message.content, 'echo: Hello');
});
