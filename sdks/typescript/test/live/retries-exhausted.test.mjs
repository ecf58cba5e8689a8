// Armed by pytest: the fake upstream fails the next 5 requests with 503 (the proxy: 502).
// pytest then checks the upstream saw exactly 2 requests (maxRetries: 1).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpstreamError } from 'modelproxy-client';
import { HELLO, clientFor, rejection } from './helpers.mjs';

test('retries stop after maxRetries: the last UpstreamError is thrown', async () => {
  const error = await rejection(clientFor('all', { maxRetries: 1 }).chatCompletion({ messages: HELLO }), UpstreamError);
  assert.equal(error.status, 502);
  assert.equal(error.code, 'upstream_error');
  assert.match(error.message, /503/);
});
