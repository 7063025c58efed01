// EmbeddingError and the codes this layer adds to the core's. src/base/error_codes.def is the one
// list of every code; tests/node/error-codes.test.mjs holds these arrays to it.

/** Codes of the JavaScript layer (JV3_JS_ERROR), in the order of error_codes.def. */
export const JS_ERROR_CODES = ['E_DISPOSED', 'E_ABORTED', 'E_NO_RANGE', 'E_CACHE_FULL'];

/** A bad command line: the CLI exits with status 2. */
export const E_USAGE = 'E_USAGE';

/** A failure that has no code of its own: the CLI exits with status 1, the HTTP server answers 500. */
export const E_INTERNAL = 'E_INTERNAL';

/** The HTTP server: no such route (404), a method other than POST (405), a body over the limit (413). */
export const E_NOT_FOUND = 'E_NOT_FOUND';
export const E_METHOD = 'E_METHOD';
export const E_BODY_TOO_LARGE = 'E_BODY_TOO_LARGE';

/** Codes of the command line and its server (JV3_CLI_ERROR), in the order of error_codes.def. */
export const CLI_ERROR_CODES = [E_USAGE, E_INTERNAL, E_NOT_FOUND, E_METHOD, E_BODY_TOO_LARGE];

/**
 * Every failure of this package. `code` is one of the stable strings of the core (`Module.errorCodes`,
 * e.g. `E_MODEL_TRUNCATED`) or one of JS_ERROR_CODES: `E_DISPOSED` (call after `dispose()`) and
 * `E_ABORTED` (load cancelled through its `signal`).
 */
export class EmbeddingError extends Error {
  /**
   * @param {string} code stable machine-readable code
   * @param {string} message human-readable detail
   * @param {{ cause?: unknown }} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = 'EmbeddingError';
    /** @type {string} */
    this.code = code;
  }
}

export function disposedError() {
  return new EmbeddingError('E_DISPOSED', 'the model has been disposed');
}

/** @param {AbortSignal} signal */
export function abortError(signal) {
  return new EmbeddingError('E_ABORTED', 'model load aborted', { cause: signal.reason });
}

/** Returns the payload of a module result, or throws its `{ error: { code, message } }` as an EmbeddingError. */
export function unwrap(result) {
  if (result && typeof result === 'object' && result.error) {
    throw new EmbeddingError(result.error.code, result.error.message);
  }
  return result;
}

/**
 * Resolves like `start()`, or rejects with E_ABORTED as soon as `signal` aborts. `start` is not
 * called at all once aborted, so no read is left pending (and later failing unobserved).
 * @template T
 * @param {() => Promise<T>} start
 * @param {AbortSignal} [signal]
 * @returns {Promise<T>}
 */
export function raceAbort(start, signal) {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const promise = start();
  if (!signal) return promise;
  let onAbort;
  const aborted = new Promise((_, reject) => {
    onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}
