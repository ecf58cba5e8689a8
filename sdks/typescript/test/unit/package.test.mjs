// The package surface: exports, error classes and their mapping, retry timing.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as sdk from 'modelproxy-client';
import { errorFromBody, errorFromEvent } from '../../dist/errors.js';
import { MAX_BACKOFF_MS, parseRetryAfter, retryDelay } from '../../dist/retry.js';

const ERRORS = ['APIConnectionError', 'APITimeoutError', 'APIUserAbortError', 'AuthenticationError',
  'BadRequestError', 'ModelProxyError', 'NotFoundError', 'PermissionDeniedError', 'QuotaExceededError',
  'RateLimitError', 'ServerError', 'UpstreamError'];

test('the package exports the client, VERSION and every error class, nothing else', () => {
  assert.deepEqual(Object.keys(sdk).sort(), [...ERRORS, 'ModelProxyClient', 'VERSION'].sort());
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  assert.equal(sdk.VERSION, pkg.version);
  assert.equal(pkg.name, 'modelproxy-client');
  assert.equal(pkg.type, 'module');
  assert.deepEqual(pkg.dependencies ?? {}, {}, 'zero runtime dependencies');
  assert.equal(pkg.exports['.'].types, './dist/index.d.ts');
});

test('every error is a ModelProxyError (and an Error) with its own name', () => {
  for (const name of ERRORS) {
    const error = new sdk[name]('the server said so', { status: 418, requestId: 'req_1', code: 'c', type: 't' });
    assert.ok(error instanceof sdk.ModelProxyError && error instanceof Error);
    assert.equal(error.name, name);
    assert.deepEqual([error.message, error.status, error.requestId, error.code, error.type],
      ['the server said so', 418, 'req_1', 'c', 't']);
  }
  assert.ok(new sdk.APITimeoutError('t') instanceof sdk.APIConnectionError);
  assert.ok(!(new sdk.QuotaExceededError('q') instanceof sdk.RateLimitError));
  assert.equal(new sdk.RateLimitError('r', { retryAfter: 3 }).retryAfter, 3);
});

test('statuses and codes map to classes', () => {
  const body = (code, type = 'x') => ({ error: { message: 'm', type, code } });
  const cases = [[400, sdk.BadRequestError], [401, sdk.AuthenticationError], [403, sdk.PermissionDeniedError],
    [404, sdk.NotFoundError], [413, sdk.BadRequestError], [429, sdk.RateLimitError], [500, sdk.ServerError],
    [502, sdk.UpstreamError], [503, sdk.ServerError], [504, sdk.UpstreamError], [409, sdk.ModelProxyError]];
  for (const [status, cls] of cases) {
    const error = errorFromBody(status, body('c'), 'req_1', 5);
    assert.equal(error.constructor, cls, String(status));
    assert.equal(error.status, status);
  }
  assert.ok(errorFromBody(429, body('insufficient_quota'), 'r') instanceof sdk.QuotaExceededError);
  assert.equal(errorFromBody(429, body('rate_limit_exceeded'), 'r', 7).retryAfter, 7);
  const plain = errorFromBody(503, 'not json', 'r');
  assert.equal(plain.message, 'HTTP 503 from the server');
  const midStream = errorFromEvent(body('upstream_error', 'upstream_error'), 'r');
  assert.ok(midStream instanceof sdk.UpstreamError && midStream.status === 502);
  assert.equal(errorFromEvent(body('upstream_timeout', 'upstream_error'), 'r').status, 504);
});

test('retryDelay: exponential backoff with equal jitter, capped; Retry-After honoured', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => retryDelay(n, 500, undefined, () => 0)), [250, 500, 1000, 2000, 4000, 4000]);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => retryDelay(n, 500, undefined, () => 1)),
    [500, 1000, 2000, 4000, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
  const d = retryDelay(0, 500);
  assert.ok(d >= 250 && d <= 500);
  assert.equal(retryDelay(0, 500, 3, () => 0), 3000);
  assert.ok(Math.abs(retryDelay(0, 500, 3, () => 1) - 3300) < 1e-9);
});

test('parseRetryAfter: seconds or an HTTP date', () => {
  assert.equal(parseRetryAfter('7'), 7);
  assert.equal(parseRetryAfter('1.5'), 1.5);
  assert.equal(parseRetryAfter('-3'), 0);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
  const now = Date.parse('2030-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('Tue, 01 Jan 2030 00:00:30 GMT', now), 30);
});

test('constructor checks', () => {
  assert.throws(() => new sdk.ModelProxyClient('localhost:8787', 't'), TypeError);
  assert.throws(() => new sdk.ModelProxyClient('http://x', 't', { maxRetries: -1 }), RangeError);
  assert.equal(new sdk.ModelProxyClient('http://x:1///', 't').baseUrl, 'http://x:1');
});
