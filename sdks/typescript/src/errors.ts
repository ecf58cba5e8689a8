/**
 * Typed errors: one class for each failure a caller handles differently. Every one is a
 * {@link ModelProxyError} with `status` (undefined when no response came), `message` (the
 * server's own words), `requestId` (the `X-Request-ID`, also in the server's log), `code`,
 * `type` and `retryAfter` (the response's `Retry-After` in seconds: a 429's, or a 502's
 * when the provider itself asked for a pause).
 *
 * | class | when |
 * |---|---|
 * | AuthenticationError | 401: missing or unknown token |
 * | PermissionDeniedError | 403: token revoked/expired; scope, IP or endpoint not allowed |
 * | NotFoundError | 404: no such endpoint, or it is disabled |
 * | BadRequestError | 400: bad input; 413: body too large |
 * | RateLimitError | 429: requests-per-minute limit (`retryAfter`, seconds) |
 * | QuotaExceededError | 429 `insufficient_quota`: monthly quota used up (never retried) |
 * | UpstreamError | 502: the provider failed or a stream broke off; 504: it timed out (`retryAfter` when the provider asked) |
 * | ServerError | another 5xx |
 * | APIConnectionError | no response: refused, reset, cut short |
 * | APITimeoutError | no response within `timeout` (an APIConnectionError) |
 * | APIUserAbortError | the caller's AbortSignal fired |
 */

export interface ErrorDetails {
  status?: number | undefined;
  requestId?: string | undefined;
  code?: string | undefined;
  type?: string | undefined;
  body?: unknown;
  cause?: unknown;
  retryAfter?: number | undefined;
}

/** The base of every error this client throws. */
export class ModelProxyError extends Error {
  /** The HTTP status; undefined when no response arrived. */
  readonly status: number | undefined;
  /** The `X-Request-ID` of the request: the id of its row in the server's request log. */
  readonly requestId: string | undefined;
  /** `error.code` of the server's answer, such as `invalid_token` or `upstream_timeout`. */
  readonly code: string | undefined;
  /** `error.type` of the server's answer, such as `authentication_error`. */
  readonly type: string | undefined;
  /** The parsed JSON body of the answer, if there was one. */
  readonly body: unknown;
  /** The answer's `Retry-After`, in seconds; undefined if it sent none. */
  readonly retryAfter: number | undefined;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.status = details.status;
    this.requestId = details.requestId;
    this.code = details.code;
    this.type = details.type;
    this.body = details.body;
    this.retryAfter = details.retryAfter;
  }
}

/** 401: the token is missing, unknown or malformed. */
export class AuthenticationError extends ModelProxyError {}

/** 403: the token is revoked or expired, or may not do this (scope, IP, endpoint). */
export class PermissionDeniedError extends ModelProxyError {}

/** 404: no endpoint has this path (or name), or it is disabled. */
export class NotFoundError extends ModelProxyError {}

/** 400: the request is malformed (or the provider rejected it); 413: body too large. */
export class BadRequestError extends ModelProxyError {}

/** 429: the token's requests-per-minute limit is reached (`retryAfter`: when to come back). */
export class RateLimitError extends ModelProxyError {}

/** 429 `insufficient_quota`: the token's monthly quota is used up. Never retried. */
export class QuotaExceededError extends ModelProxyError {}

/**
 * 502: the provider failed (or a stream broke off); 504: the provider timed out.
 * `retryAfter`: the provider's own `Retry-After`, where it sent one (it is rate-limiting
 * or overloaded the server's key).
 */
export class UpstreamError extends ModelProxyError {}

/** Another 5xx: the server itself could not answer (503 is retried). */
export class ServerError extends ModelProxyError {}

/** No usable response: connection refused or reset, a stream cut short. */
export class APIConnectionError extends ModelProxyError {}

/** No response within the client's `timeout`. */
export class APITimeoutError extends APIConnectionError {}

/** The caller's AbortSignal fired; the request (or stream) was given up. Never retried. */
export class APIUserAbortError extends ModelProxyError {}

const BY_STATUS: Record<number, typeof ModelProxyError> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  413: BadRequestError,
  422: BadRequestError,
  502: UpstreamError,
  504: UpstreamError,
};

// An error event inside a stream has no status of its own (the stream began with 200):
// its `type` says what it would have been.
const STATUS_BY_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  rate_limit_error: 429,
  upstream_error: 502,
  server_error: 500,
};

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The typed error for a response with `status` and parsed JSON `body`. */
export function errorFromBody(
  status: number,
  body: unknown,
  requestId: string | undefined,
  retryAfter?: number,
): ModelProxyError {
  const error =
    typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  let message = `HTTP ${status} from the server`;
  let code: string | undefined;
  let type: string | undefined;
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    const e = error as { message: string; code?: unknown; type?: unknown };
    message = e.message;
    code = str(e.code);
    type = str(e.type);
  }
  const details: ErrorDetails = { status, requestId, code, type, body, retryAfter };
  if (status === 429) {
    if (code === 'insufficient_quota') return new QuotaExceededError(message, details);
    return new RateLimitError(message, details);
  }
  const cls = BY_STATUS[status] ?? (status >= 500 ? ServerError : ModelProxyError);
  return new cls(message, details);
}

/** The typed error for a `data: {"error": ...}` event in a stream. */
export function errorFromEvent(body: { error?: unknown }, requestId: string | undefined): ModelProxyError {
  const error = typeof body.error === 'object' && body.error !== null ? (body.error as Record<string, unknown>) : {};
  const status = error.code === 'upstream_timeout' ? 504 : STATUS_BY_TYPE[String(error.type)] ?? 502;
  return errorFromBody(status, body, requestId);
}
