// Armed by pytest: the fake upstream fails the next request with 500.
// pytest then checks the upstream saw exactly 1 request (maxRetries: 0).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpstreamError } from 'modelproxy-client';
import { HELLO, clientFor, rejection } from './helpers.mjs';

test('502 UpstreamError when the provider fails', async () => {
  const error = await rejection(clientFor('all', { maxRetries: 0 }).chatCompletion({ messages: HELLO }), UpstreamError);
  assert.equal(error.status, 502);
  assert.equal(error.code, 'upstream_error');
  assert.equal(error.type, 'upstream_error');
  assert.match(error.requestId, /^req_/);
});
