// The SSE parser, fed whole and cut at every possible place.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SSEDecoder } from '../../dist/sse.js';

const STREAM = new TextEncoder().encode(
  'data: {"n": 1}\n\n' +
  ': a comment\n' +
  'event: message\r\nid: 7\r\ndata: {"n": 2}\r\n\r\n' +
  'data: {"n":\ndata:  3}\n\n' +
  'data: {"text": "café €"}\r\r' +
  'retry: 100\n\n' +
  'data\n\n' +
  'data: [DONE]\n\n',
);
const EXPECTED = ['{"n": 1}', '{"n": 2}', '{"n":\n 3}', '{"text": "café €"}', '', '[DONE]'];

function decode(pieces) {
  const decoder = new SSEDecoder();
  return pieces.flatMap((piece) => decoder.feed(piece));
}

test('a whole stream', () => {
  assert.deepEqual(decode([STREAM]), EXPECTED);
  assert.deepEqual(JSON.parse(EXPECTED[2]), { n: 3 });
});

for (const size of [1, 2, 3, 5, 7, 16]) {
  test(`cut into ${size}-byte pieces (inside CRLF and UTF-8 characters too)`, () => {
    const pieces = [];
    for (let i = 0; i < STREAM.length; i += size) pieces.push(STREAM.subarray(i, i + size));
    assert.deepEqual(decode(pieces), EXPECTED);
  });
}

test('cut in two at every position', () => {
  for (let cut = 0; cut <= STREAM.length; cut++) {
    assert.deepEqual(decode([STREAM.subarray(0, cut), STREAM.subarray(cut)]), EXPECTED, `cut at ${cut}`);
  }
});

test('an unfinished event is not given', () => {
  assert.deepEqual(decode([new TextEncoder().encode('data: {"n": 1}\n\ndata: {"half"')]), ['{"n": 1}']);
});

test('text input works too', () => {
  assert.deepEqual(decode(['data: a\r', '\ndata: b\n', '\n']), ['a\nb']);
});
