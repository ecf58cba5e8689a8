import {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  ModelProxyError,
  QuotaExceededError,
  RateLimitError,
  errorFromBody,
  errorFromEvent,
} from './errors.js';
import { RETRY_STATUSES, parseRetryAfter, retryDelay, sleep } from './retry.js';
import { SSEDecoder } from './sse.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionParams,
  EmbeddingsParams,
  EmbeddingsResponse,
  Health,
  ModelList,
} from './types.js';

export const VERSION = '0.1.0';

/** Options for a client; every one has a default. */
export interface ClientOptions {
  /**
   * Milliseconds to wait for an answer (its headers and whole body); for a stream, for
   * its headers and then the longest silence between two chunks. Default 60 000.
   */
  timeout?: number;
  /**
   * Retries after the first attempt, for connection errors and timeouts, 429 rate limits,
   * 502, 503 and 504; never for other statuses, never once a stream has started.
   * `0` turns retries off. Default 2.
   */
  maxRetries?: number;
  /** The first backoff in milliseconds, doubling with each retry (at most 8 s), with jitter. Default 500. */
  retryBackoff?: number;
  /**
   * The longest `Retry-After` (in milliseconds) waited out; a 429 (or a 502 passing on
   * the provider's) asking for longer is thrown at once, with `retryAfter` for the caller.
   * Default 20 000.
   */
  maxRetryWait?: number;
  /** Extra headers for every request. */
  headers?: Record<string, string>;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof globalThis.fetch;
}

/** Options for one call. */
export interface RequestOptions {
  /** Aborts the call (and a stream in progress); it then throws APIUserAbortError. */
  signal?: AbortSignal;
  /** Overrides the client's `timeout` for this call (milliseconds). */
  timeout?: number;
  /** Overrides the client's `maxRetries` for this call. */
  maxRetries?: number;
}

type Kind = 'chat' | 'embeddings';
const SEED_PATHS: Record<Kind, string> = { chat: '/api/chat', embeddings: '/api/embeddings' };
const V1_PATHS: Record<Kind, string> = { chat: '/v1/chat/completions', embeddings: '/v1/embeddings' };

/** One attempt's abort controller: the caller's signal, and a timer that can be re-armed. */
class Attempt {
  readonly controller = new AbortController();
  private timedOut = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort = (): void => this.controller.abort();

  constructor(
    private readonly userSignal: AbortSignal | undefined,
    private readonly timeout: number,
  ) {
    userSignal?.addEventListener('abort', this.onAbort, { once: true });
    this.arm();
  }

  arm(): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, this.timeout);
  }

  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    this.disarm();
    this.userSignal?.removeEventListener('abort', this.onAbort);
  }

  /** The typed error for an exception from fetch or from reading the body. */
  failure(cause: unknown, requestId: string): ModelProxyError {
    if (cause instanceof ModelProxyError) return cause;
    if (this.userSignal?.aborted) {
      return new APIUserAbortError('the request was aborted', { requestId, cause });
    }
    if (this.timedOut) {
      return new APITimeoutError(`ModelProxy did not answer within ${this.timeout} ms`, { requestId, cause });
    }
    if (certificateRefused(cause)) {
      return new APIConnectionError(
        `the server's TLS certificate is not trusted (${describe(cause)}): trust the CA that signed it, ` +
          'e.g. NODE_EXTRA_CA_CERTS=ca.pem (see the README, "HTTPS with your own CA")',
        { requestId, cause },
      );
    }
    return new APIConnectionError(`could not talk to ModelProxy: ${describe(cause)}`, { requestId, cause });
  }
}

/** Node's codes for a server certificate that does not verify: retrying will not help. */
const CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function certificateRefused(cause: unknown): boolean {
  const inner = typeof cause === 'object' && cause !== null ? (cause as { cause?: unknown }).cause : undefined;
  const code = typeof inner === 'object' && inner !== null ? (inner as { code?: unknown }).code : undefined;
  return typeof code === 'string' && CERTIFICATE_CODES.has(code);
}

function describe(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = (cause as { cause?: unknown }).cause;
  const code = typeof inner === 'object' && inner !== null ? (inner as { code?: unknown }).code : undefined;
  const detail = inner instanceof Error ? inner.message : undefined;
  return [cause.message, typeof code === 'string' ? code : undefined, detail !== cause.message ? detail : undefined]
    .filter(Boolean)
    .join(': ');
}

function newRequestId(): string {
  const bytes = new Uint8Array(16);
  if (typeof globalThis.crypto?.getRandomValues === 'function') {
    globalThis.crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  return 'req_' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function route(kind: Kind, params: { endpoint?: string; model?: string }): [string, Record<string, unknown>] {
  const { endpoint, model, ...rest } = params;
  if (endpoint !== undefined && model !== undefined) {
    throw new TypeError('give endpoint (a path such as /api/chat) or model (an endpoint name, via /v1), not both');
  }
  if (model !== undefined) return [V1_PATHS[kind], { model, ...rest }];
  return [SEED_PATHS[kind], { endpoint: endpoint ?? SEED_PATHS[kind], ...rest }];
}

function parseChunk(data: string, requestId: string): ChatCompletionChunk {
  let payload: unknown;
  try {
    payload = JSON.parse(data);
  } catch {
    throw new ModelProxyError(`the stream sent an event that is not JSON: ${data.slice(0, 200)}`, { requestId });
  }
  if (typeof payload === 'object' && payload !== null && 'error' in payload) {
    throw errorFromEvent(payload as { error: unknown }, requestId);
  }
  return payload as ChatCompletionChunk;
}

/**
 * A client for ModelProxy's client API.
 *
 * ```ts
 * const client = new ModelProxyClient('http://127.0.0.1:8787', 'mpx_...');
 * const reply = await client.chatCompletion({ endpoint: '/api/chat', messages: [{ role: 'user', content: 'Hello' }] });
 * ```
 *
 * Every request sends an `X-Request-ID` (the same on each retry of one call); the server
 * logs it and every error carries it as `requestId`.
 */
export class ModelProxyClient {
  /** The server's root URL, without a trailing slash. */
  readonly baseUrl: string;
  readonly timeout: number;
  readonly maxRetries: number;
  readonly retryBackoff: number;
  readonly maxRetryWait: number;
  readonly #token: string;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof globalThis.fetch;

  /**
   * @param baseUrl the server's root URL, such as `http://127.0.0.1:8787` (not `.../v1`).
   * @param token the client token the admin issued (`mpx_...`).
   */
  constructor(baseUrl: string, token: string, options: ClientOptions = {}) {
    if (!/^https?:\/\//.test(baseUrl)) {
      throw new TypeError(`baseUrl must be an http:// or https:// URL, not ${JSON.stringify(baseUrl)}`);
    }
    const maxRetries = options.maxRetries ?? 2;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new RangeError('maxRetries must be 0 or more');
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = token;
    this.timeout = options.timeout ?? 60_000;
    this.maxRetries = maxRetries;
    this.retryBackoff = options.retryBackoff ?? 500;
    this.maxRetryWait = options.maxRetryWait ?? 20_000;
    this.#headers = { ...(options.headers ?? {}) };
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw new TypeError('no global fetch: pass options.fetch');
    this.#fetch = fetchImpl;
  }

  /**
   * A chat completion. `endpoint` is the path of a chat endpoint (default `/api/chat`);
   * or give `model` to name an endpoint through the OpenAI-compatible `/v1` surface.
   * Other OpenAI chat parameters pass through.
   */
  async chatCompletion(params: ChatCompletionParams, options: RequestOptions = {}): Promise<ChatCompletion> {
    if (params.stream) throw new TypeError('use chatCompletionStream() for a streamed answer');
    const [path, body] = route('chat', params);
    delete body.stream;
    return (await this.#json('POST', path, body, options)) as ChatCompletion;
  }

  /**
   * A streamed chat completion: an async iterator over the parsed
   * `chat.completion.chunk`s, until `data: [DONE]`.
   *
   * The request is sent when iteration starts; errors before the stream starts (bad
   * token, unknown endpoint...) are thrown from the first `next()`, after any retries.
   * An error event (the provider failed mid-stream) throws the matching error, usually
   * UpstreamError; nothing is retried once the stream has started. Leaving the loop
   * (`break`, `return`, an exception) or aborting `options.signal` closes the connection,
   * and the server stops the upstream request at once.
   */
  async *chatCompletionStream(
    params: ChatCompletionParams,
    options: RequestOptions = {},
  ): AsyncGenerator<ChatCompletionChunk, void, undefined> {
    const [path, body] = route('chat', params);
    const { response, attempt, requestId } = await this.#send(
      'POST', path, { ...body, stream: true }, options, true,
      async (response, attempt, requestId) => ({ response, attempt, requestId }),
    );
    const reader = response.body?.getReader();
    let finished = false;
    try {
      if (reader === undefined) throw new APIConnectionError('the stream has no body', { requestId });
      const decoder = new SSEDecoder();
      for (;;) {
        attempt.arm(); // the longest silence allowed
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (cause) {
          throw attempt.failure(cause, requestId);
        } finally {
          attempt.disarm();
        }
        if (result.done) break;
        for (const data of decoder.feed(result.value)) {
          if (options.signal?.aborted) throw attempt.failure(options.signal.reason, requestId);
          if (data === '[DONE]') {
            finished = true;
            return;
          }
          yield parseChunk(data, requestId);
        }
      }
      throw new APIConnectionError('the stream ended before data: [DONE]', { requestId });
    } finally {
      attempt.dispose();
      if (!finished) attempt.controller.abort(); // closes the connection
      reader?.cancel().catch(() => undefined);
    }
  }

  /**
   * Embeddings of `input` (a string or a list). `endpoint` is the path of an embeddings
   * endpoint (default `/api/embeddings`); or give `model` to name one through `/v1`.
   */
  async embeddings(params: EmbeddingsParams, options: RequestOptions = {}): Promise<EmbeddingsResponse> {
    const [path, body] = route('embeddings', params);
    return (await this.#json('POST', path, body, options)) as EmbeddingsResponse;
  }

  /** The endpoints this token may use, optionally only those of one provider. */
  async models(provider?: string, options: RequestOptions = {}): Promise<ModelList> {
    const query = provider === undefined ? '' : `?provider=${encodeURIComponent(provider)}`;
    return (await this.#json('GET', `/api/models${query}`, undefined, options)) as ModelList;
  }

  /** The server's health: `{ status: 'ok', version, database: 'ok' }` (no token needed). */
  async health(options: RequestOptions = {}): Promise<Health> {
    return (await this.#json('GET', '/api/health', undefined, options)) as Health;
  }

  /** Keeps the token out of logs and `console.log`. */
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl, token: `${this.#token.slice(0, 8)}...` };
  }

  // --- the plumbing ---------------------------------------------------------------------

  #json(method: string, path: string, body: Record<string, unknown> | undefined, options: RequestOptions): Promise<unknown> {
    return this.#send(method, path, body, options, false, async (response, attempt, requestId) => {
      let text: string;
      try {
        text = await response.text();
      } catch (cause) {
        throw attempt.failure(cause, requestId);
      }
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new ModelProxyError(`the server answered ${response.status} with a body that is not JSON`, {
          status: response.status,
          requestId,
        });
      }
    });
  }

  /**
   * One call: attempts until a 2xx response, which `accept` turns into the result, or an
   * error worth throwing. For a stream, `accept` takes over the attempt (and its timer).
   */
  async #send<T>(
    method: string,
    path: string,
    body: Record<string, unknown> | undefined,
    options: RequestOptions,
    stream: boolean,
    accept: (response: Response, attempt: Attempt, requestId: string) => Promise<T>,
  ): Promise<T> {
    const requestId = newRequestId();
    const maxRetries = options.maxRetries ?? this.maxRetries;
    const timeout = options.timeout ?? this.timeout;
    const headers: Record<string, string> = {
      Accept: stream ? 'text/event-stream' : 'application/json',
      ...this.#headers,
      Authorization: `Bearer ${this.#token}`,
      'X-Request-ID': requestId,
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const aborted = (): APIUserAbortError =>
      new APIUserAbortError('the request was aborted', { requestId, cause: options.signal?.reason });
    for (let n = 0; ; n++) {
      if (options.signal?.aborted) throw aborted();
      const attempt = new Attempt(options.signal, timeout);
      let handedOver = false;
      let error: ModelProxyError;
      try {
        const response = await this.#fetch(this.baseUrl + path, {
          method,
          headers,
          body: payload,
          signal: attempt.controller.signal,
        });
        if (response.ok) {
          if (stream) handedOver = true;
          return await accept(response, attempt, requestId);
        }
        error = await errorFromResponse(response, requestId);
      } catch (cause) {
        error = attempt.failure(cause, requestId);
      } finally {
        if (!handedOver) attempt.dispose();
      }
      if (n >= maxRetries || !this.#retryable(error)) throw error;
      await sleep(retryDelay(n, this.retryBackoff, error.retryAfter), options.signal, aborted);
    }
  }

  #retryable(error: ModelProxyError): boolean {
    if (error instanceof APIUserAbortError || error instanceof QuotaExceededError) return false;
    if (error instanceof APIConnectionError) return !certificateRefused(error.cause);
    // Asked to wait longer than the caller allows: theirs to decide.
    if (error.retryAfter !== undefined && error.retryAfter * 1000 > this.maxRetryWait) return false;
    if (error instanceof RateLimitError) return true;
    return error.status !== undefined && RETRY_STATUSES.has(error.status);
  }
}

async function errorFromResponse(response: Response, requestId: string): Promise<ModelProxyError> {
  let body: unknown;
  try {
    const text = await response.text();
    body = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    body = undefined;
  }
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  return errorFromBody(response.status, body, response.headers.get('x-request-id') ?? requestId, retryAfter);
}
