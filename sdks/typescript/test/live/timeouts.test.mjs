// Armed by pytest: the fake upstream waits 1 s before answering; the "slow" provider gives
// up after 0.5 s. pytest then checks the upstream saw 3 requests: 2 for the first test
// (504 retried once), 1 for the second (the client's own timeout, no retries).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { APIConnectionError, APITimeoutError, UpstreamError } from 'modelproxy-client';
import { HELLO, clientFor, rejection } from './helpers.mjs';

test('504 UpstreamError when the provider times out, retried', async () => {
  const client = clientFor('all', { maxRetries: 1 });
  const error = await rejection(client.chatCompletion({ endpoint: '/api/slow', messages: HELLO }), UpstreamError);
  assert.equal(error.status, 504);
  assert.equal(error.code, 'upstream_timeout');
});

test('APITimeoutError when the server does not answer within timeout', async () => {
  const client = clientFor('all', { timeout: 300, maxRetries: 0 });
  const started = performance.now();
  const error = await rejection(client.chatCompletion({ endpoint: '/api/chat', messages: HELLO }), APITimeoutError);
  assert.ok(error instanceof APIConnectionError);
  assert.match(error.message, /300 ms/);
  assert.ok(performance.now() - started < 1500);
});
