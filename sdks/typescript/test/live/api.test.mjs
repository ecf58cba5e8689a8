// Every method and each error class, from a real ModelProxy server (no faults armed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  APIConnectionError,
  APITimeoutError,
  AuthenticationError,
  BadRequestError,
  ModelProxyClient,
  ModelProxyError,
  NotFoundError,
  PermissionDeniedError,
  QuotaExceededError,
  RateLimitError,
} from 'modelproxy-client';
import { HELLO, bodyLimit, clientFor, collect, deadUrl, rejection, textOf, tokens, url } from './helpers.mjs';

function assertServerError(error, status, code) {
  assert.ok(error instanceof ModelProxyError);
  assert.equal(error.status, status);
  assert.equal(error.code, code);
  assert.equal(typeof error.message, 'string');
  assert.equal(error.message, error.body.error.message, "the message is the server's");
  assert.match(error.requestId, /^req_[0-9a-f]{32}$/);
}

test('chatCompletion exactly as the seed writes it', async () => {
  const client = new ModelProxyClient(url, tokens.all);
  const reply = await client.chatCompletion({ endpoint: '/api/chat', messages: [{ role: 'user', content: 'Hello' }] });
  assert.equal(reply.object, 'chat.completion');
  assert.equal(reply.choices[0].message.content, 'echo: Hello');
  assert.ok(reply.usage.total_tokens > 0);
});

test('chatCompletion on another path, by endpoint name through /v1, and by default', async () => {
  const client = clientFor();
  const byPath = await client.chatCompletion({ endpoint: '/api/echo/chat', messages: HELLO, temperature: 0.5 });
  const byName = await client.chatCompletion({ model: 'echo-chat', messages: HELLO });
  const byDefault = await client.chatCompletion({ messages: HELLO });
  assert.equal(byPath.model, 'echo-model');
  assert.equal(byName.model, 'echo-model');
  assert.equal(byDefault.choices[0].message.content, 'echo: Hello');
  await assert.rejects(client.chatCompletion({ endpoint: '/api/chat', model: 'chat', messages: HELLO }), /not both/);
  await assert.rejects(client.chatCompletion({ messages: HELLO, stream: true }), /chatCompletionStream/);
});

test('chatCompletionStream yields parsed chunks until [DONE]', async () => {
  const chunks = await collect(clientFor().chatCompletionStream({ endpoint: '/api/chat', messages: [{ role: 'user', content: 'stream me' }] }));
  assert.ok(chunks.length >= 4);
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  assert.equal(textOf(chunks), 'echo: stream me');
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
});

test('chatCompletionStream with usage, and through /v1', async () => {
  const client = clientFor();
  const chunks = await collect(client.chatCompletionStream({ messages: HELLO, stream_options: { include_usage: true } }));
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.ok(chunks.at(-1).usage.total_tokens > 0);
  const echoed = await collect(client.chatCompletionStream({ model: 'echo-chat', messages: HELLO }));
  assert.equal(echoed[0].model, 'echo-model');
  assert.ok(textOf(echoed).length > 0);
});

test('embeddings: one text, a list, dimensions, by name', async () => {
  const client = clientFor();
  const one = await client.embeddings({ endpoint: '/api/embeddings', input: 'hello' });
  assert.equal(one.data.length, 1);
  assert.equal(one.data[0].embedding.length, 8);
  const many = await client.embeddings({ endpoint: '/api/embeddings', input: ['a', 'b', 'c'], dimensions: 4 });
  assert.deepEqual(many.data.map((d) => d.index), [0, 1, 2]);
  assert.ok(many.data.every((d) => d.embedding.length === 4));
  assert.equal(many.model, 'text-embedding-3-small');
  const byName = await client.embeddings({ model: 'echo-embed', input: 'x' });
  assert.ok(byName.data[0].embedding.length > 0);
});

test('models, all and by provider', async () => {
  const client = clientFor();
  const all = await client.models();
  assert.equal(all.object, 'list');
  const names = new Set(all.data.map((m) => m.id));
  for (const name of ['chat', 'embed', 'echo-chat', 'echo-embed', 'slow']) assert.ok(names.has(name), name);
  const chat = all.data.find((m) => m.id === 'chat');
  assert.deepEqual([chat.endpoint, chat.kind, chat.owned_by], ['/api/chat', 'chat', 'fake']);
  const echo = await client.models('echo');
  assert.deepEqual(echo.data.map((m) => m.id).sort(), ['echo-chat', 'echo-embed']);
  assert.deepEqual((await client.models('nobody')).data, []);
});

test('health', async () => {
  const health = await clientFor().health();
  assert.equal(health.status, 'ok');
  assert.equal(health.database, 'ok');
  assert.ok(health.version);
});

test('401 AuthenticationError for an unknown or missing token', async () => {
  const client = new ModelProxyClient(url, 'mpx_' + 'x'.repeat(43));
  const error = await rejection(client.chatCompletion({ endpoint: '/api/chat', messages: HELLO }), AuthenticationError);
  assertServerError(error, 401, 'invalid_token');
  assert.equal(error.type, 'authentication_error');
  const missing = await rejection(new ModelProxyClient(url, '').models(), AuthenticationError);
  assert.equal(missing.code, 'missing_token');
  // before a stream starts, the error comes from the first next()
  await rejection(collect(client.chatCompletionStream({ messages: HELLO })), AuthenticationError);
});

test('403 PermissionDeniedError outside the scopes, and for a revoked token', async () => {
  const chatOnly = clientFor('chat-only');
  assertServerError(await rejection(chatOnly.embeddings({ input: 'x' }), PermissionDeniedError), 403, 'scope_not_allowed');
  assertServerError(await rejection(chatOnly.models(), PermissionDeniedError), 403, 'scope_not_allowed');
  assert.ok((await chatOnly.chatCompletion({ messages: HELLO })).choices.length);
  const revoked = await rejection(clientFor('revoked').chatCompletion({ messages: HELLO }), PermissionDeniedError);
  assertServerError(revoked, 403, 'token_revoked');
});

test('404 NotFoundError for an unknown endpoint or model', async () => {
  const error = await rejection(clientFor().chatCompletion({ endpoint: '/api/nowhere', messages: HELLO }), NotFoundError);
  assertServerError(error, 404, 'endpoint_not_found');
  assert.match(error.message, /\/api\/nowhere/);
  const byModel = await rejection(clientFor().chatCompletion({ model: 'no-such-model', messages: HELLO }), NotFoundError);
  assert.equal(byModel.code, 'model_not_found');
});

test('400 BadRequestError for bad input', async () => {
  const error = await rejection(clientFor().chatCompletion({ endpoint: '/api/chat', messages: [] }), BadRequestError);
  assertServerError(error, 400, 'invalid_request');
  assert.match(error.message, /messages/);
  await rejection(clientFor().embeddings({ endpoint: '/api/chat', input: 'x' }), BadRequestError);
});

test('413 BadRequestError for a body over the limit', async () => {
  const error = await rejection(clientFor().embeddings({ input: 'x'.repeat(bodyLimit + 1) }), BadRequestError);
  assertServerError(error, 413, 'request_too_large');
  assert.match(error.message, new RegExp(String(bodyLimit)));
});

test('429 RateLimitError with retryAfter; a long Retry-After is not waited out', async () => {
  const client = clientFor('ts-rpm', { maxRetries: 2, maxRetryWait: 20_000 });
  await client.chatCompletion({ endpoint: '/api/echo/chat', messages: HELLO });
  const started = performance.now();
  const error = await rejection(client.chatCompletion({ endpoint: '/api/echo/chat', messages: HELLO }), RateLimitError);
  assert.ok(performance.now() - started < 2000);
  assertServerError(error, 429, 'rate_limit_exceeded');
  assert.ok(error.retryAfter > 20 && error.retryAfter <= 60, String(error.retryAfter));
  assert.ok(!(error instanceof QuotaExceededError));
});

test('429 insufficient_quota is QuotaExceededError, not retried', async () => {
  const client = clientFor('ts-quota', { maxRetries: 3 });
  await client.chatCompletion({ endpoint: '/api/chat', messages: HELLO });
  const error = await rejection(client.chatCompletion({ endpoint: '/api/chat', messages: HELLO }), QuotaExceededError);
  assertServerError(error, 429, 'insufficient_quota');
  assert.ok(!(error instanceof RateLimitError));
  // pytest checks the server's log: this token made exactly two requests
});

test('APIConnectionError when nothing listens, after fast retries', async () => {
  const client = new ModelProxyClient(deadUrl, 'mpx_x', { maxRetries: 2, retryBackoff: 10 });
  const started = performance.now();
  const error = await rejection(client.health(), APIConnectionError);
  assert.ok(!(error instanceof APITimeoutError));
  assert.equal(error.status, undefined);
  assert.match(error.requestId, /^req_/);
  assert.match(error.message, /ECONNREFUSED|fetch failed/);
  assert.ok(performance.now() - started < 2000);
});

test('the client keeps its token out of JSON and console output', async () => {
  const client = clientFor();
  assert.ok(!JSON.stringify(client).includes(tokens.all));
  const { inspect } = await import('node:util');
  assert.ok(!inspect(client).includes(tokens.all));
  assert.throws(() => new ModelProxyClient('127.0.0.1:8787', 'mpx_x'), /http/);
});
