// Armed by pytest: the fake upstream rejects the next request with 400 (the proxy: 400).
// pytest then checks the upstream saw exactly 1 request although maxRetries is 3.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BadRequestError } from 'modelproxy-client';
import { HELLO, clientFor, rejection } from './helpers.mjs';

test('a 400 is never retried', async () => {
  const client = clientFor('all', { maxRetries: 3 });
  const error = await rejection(client.chatCompletion({ messages: HELLO, max_tokens: 1e9 }), BadRequestError);
  assert.equal(error.status, 400);
  assert.match(error.message, /max_tokens is too large/);
});
