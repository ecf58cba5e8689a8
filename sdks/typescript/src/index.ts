/**
 * TypeScript client for ModelProxy, the self-hosted AI gateway. Zero dependencies: it
 * uses the global `fetch` (Node 18+ and browsers).
 *
 * ```ts
 * import { ModelProxyClient } from 'modelproxy-client';
 *
 * const client = new ModelProxyClient('http://127.0.0.1:8787', 'mpx_...');
 * const reply = await client.chatCompletion({ endpoint: '/api/chat', messages: [{ role: 'user', content: 'Hello' }] });
 * for await (const chunk of client.chatCompletionStream({ messages: [{ role: 'user', content: 'Hi' }] })) {
 *   process.stdout.write(chunk.choices[0]?.delta.content ?? '');
 * }
 * ```
 *
 * @module
 */
export { ModelProxyClient, VERSION } from './client.js';
export type { ClientOptions, RequestOptions } from './client.js';
export {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ModelProxyError,
  NotFoundError,
  PermissionDeniedError,
  QuotaExceededError,
  RateLimitError,
  ServerError,
  UpstreamError,
} from './errors.js';
export type { ErrorDetails } from './errors.js';
export type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionParams,
  ChatMessage,
  EmbeddingsParams,
  EmbeddingsResponse,
  EndpointChoice,
  Health,
  Model,
  ModelList,
  Usage,
} from './types.js';
