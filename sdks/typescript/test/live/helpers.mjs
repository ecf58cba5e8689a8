// What the pytest runner (tests/sdks/test_typescript.py) tells these tests: the URL of a
// real ModelProxy server, its tokens by name, a URL where nothing listens, the body limit.
import assert from 'node:assert/strict';
import { ModelProxyClient } from 'modelproxy-client';

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: these tests run from pytest (tests/sdks/test_typescript.py), ` +
      'which starts the server they call');
  }
  return value;
}

export const url = required('MODELPROXY_TEST_URL');
export const tokens = JSON.parse(required('MODELPROXY_TEST_TOKENS'));
export const deadUrl = required('MODELPROXY_TEST_DEAD_URL');
export const bodyLimit = Number(required('MODELPROXY_TEST_BODY_LIMIT'));
export const HELLO = [{ role: 'user', content: 'Hello' }];

/** A client for the test server with the named token (and fast retries unless told). */
export function clientFor(token = 'all', options = {}) {
  assert.ok(tokens[token], `no token ${token}`);
  return new ModelProxyClient(url, tokens[token], { retryBackoff: 10, ...options });
}

/** The error `promise` rejects with, checked to be an instance of `cls`. */
export async function rejection(promise, cls) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof cls, `expected ${cls.name}, got ${error?.name}: ${error?.message}`);
    return error;
  }
  assert.fail(`expected ${cls.name}, but the call succeeded`);
}

/** Everything a stream yields, in an array. */
export async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

export function textOf(chunks) {
  return chunks.flatMap((c) => c.choices).map((c) => c.delta.content ?? '').join('');
}
