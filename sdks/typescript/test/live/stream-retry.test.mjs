// Armed by pytest: the fake upstream fails the next request with 500. pytest then checks
// the upstream saw 2 requests: a stream that has not started yet is retried.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HELLO, clientFor, collect, textOf } from './helpers.mjs';

test('a stream that fails before it starts is retried', async () => {
  const chunks = await collect(clientFor('all', { maxRetries: 2 }).chatCompletionStream({ messages: HELLO }));
  assert.equal(textOf(chunks), 'echo: Hello');
});
