/** Retry timing: exponential backoff with jitter, and the server's `Retry-After`. */

/** The longest wait between attempts when no `Retry-After` says otherwise, in ms. */
export const MAX_BACKOFF_MS = 8000;

/** Statuses worth another attempt (besides 429 rate limits and connection errors). */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * Milliseconds to wait before retry number `attempt + 1` (`attempt` counts from 0).
 *
 * With a `Retry-After` of `retryAfter` seconds: that, plus up to 10% (at most 1 s) of
 * jitter, so that clients told the same time do not all return at once. Otherwise
 * exponential backoff, `backoffMs * 2 ** attempt` capped at 8 s, with "equal jitter":
 * a random point in the upper half of that.
 */
export function retryDelay(
  attempt: number,
  backoffMs: number,
  retryAfter?: number,
  random: () => number = Math.random,
): number {
  if (retryAfter !== undefined) {
    const ms = retryAfter * 1000;
    return ms + Math.min(1000, 0.1 * ms) * random();
  }
  const ceiling = Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** attempt);
  return ceiling / 2 + (ceiling / 2) * random();
}

/** A `Retry-After` header in seconds (delta-seconds or an HTTP date); undefined if unusable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  let seconds: number;
  if (/^-?\d+(\.\d+)?$/.test(trimmed)) {
    seconds = Number(trimmed);
  } else {
    const when = Date.parse(trimmed);
    if (Number.isNaN(when)) return undefined;
    seconds = (when - now) / 1000;
  }
  return Number.isFinite(seconds) ? Math.max(0, seconds) : undefined;
}

/** Waits `ms`; rejects with `abortError()` as soon as `signal` fires. */
export function sleep(ms: number, signal: AbortSignal | undefined, abortError: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
