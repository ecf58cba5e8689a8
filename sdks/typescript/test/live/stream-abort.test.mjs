// Armed by pytest: the fake upstream waits 0.5 s between stream chunks. pytest then checks
// the upstream saw 2 requests and 2 aborted streams (the third call never left).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { APIUserAbortError } from 'modelproxy-client';
import { HELLO, clientFor, rejection } from './helpers.mjs';

test('breaking out of the loop closes the stream', async () => {
  const started = performance.now();
  for await (const chunk of clientFor().chatCompletionStream({ messages: HELLO })) {
    assert.equal(chunk.choices[0].delta.role, 'assistant');
    break;
  }
  assert.ok(performance.now() - started < 1000, 'break returned at once');
});

test('aborting the signal mid-stream throws APIUserAbortError and closes the stream', async () => {
  const controller = new AbortController();
  const received = [];
  const error = await rejection((async () => {
    for await (const chunk of clientFor().chatCompletionStream({ messages: HELLO }, { signal: controller.signal })) {
      received.push(chunk);
      controller.abort();
    }
  })(), APIUserAbortError);
  assert.equal(received.length, 1);
  assert.match(error.requestId, /^req_/);
});

test('an already aborted signal sends nothing', async () => {
  const error = await rejection(clientFor().chatCompletion({ messages: HELLO }, { signal: AbortSignal.abort() }), APIUserAbortError);
  assert.equal(error.status, undefined);
});
