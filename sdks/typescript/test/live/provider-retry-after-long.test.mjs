// Armed by pytest: the provider answers the next request 429 with Retry-After: 30 (the
// proxy: 502 passing it on). pytest then checks the upstream saw exactly 1 request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpstreamError } from 'modelproxy-client';
import { HELLO, clientFor, rejection } from './helpers.mjs';

test("a provider's Retry-After longer than maxRetryWait is thrown at once", async () => {
  const started = Date.now();
  const client = clientFor('all', { maxRetries: 2, maxRetryWait: 20_000 });
  const error = await rejection(client.chatCompletion({ endpoint: '/api/chat', messages: HELLO }), UpstreamError);
  assert.equal(error.status, 502);
  assert.equal(error.retryAfter, 30);
  assert.ok(Date.now() - started < 2000, 'it waited instead of throwing');
});
