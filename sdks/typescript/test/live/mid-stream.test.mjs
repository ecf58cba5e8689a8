// Armed by pytest: the next upstream stream dies after 2 content chunks; the proxy sends
// one error event. pytest then checks the upstream saw exactly 1 request (no retry).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpstreamError } from 'modelproxy-client';
import { clientFor } from './helpers.mjs';

test('a mid-stream failure throws UpstreamError after the chunks before it; never retried', async () => {
  const received = [];
  const client = clientFor('all', { maxRetries: 3 });
  let caught;
  try {
    for await (const chunk of client.chatCompletionStream({ messages: [{ role: 'user', content: 'a b c d' }] })) {
      received.push(chunk);
    }
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UpstreamError, String(caught));
  assert.equal(caught.status, 502);
  assert.equal(caught.code, 'upstream_error');
  assert.ok(caught.message.length > 0);
  assert.match(caught.requestId, /^req_/);
  assert.ok(received.length >= 2, `${received.length} chunks before the error`);
});
