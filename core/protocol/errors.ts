import type { FailureReason } from './constants';

/**
 * An error that travels as a value: the HTTP status to answer with, the field it is about
 * (when there is one) and the failure reason a task would fail with.
 * The /process answer body is `toJSON()`: `{"error": "...", "field": "..."}`.
 */
export class ProtocolError extends Error {
  readonly status: number;
  readonly field?: string;
  readonly reason: FailureReason;

  constructor(status: number, message: string, options: { field?: string; reason?: FailureReason; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProtocolError';
    this.status = status;
    this.field = options.field;
    this.reason = options.reason ?? (status >= 500 ? 'internal_error' : 'invalid_data');
  }

  toJSON(): { error: string; field?: string } {
    return this.field === undefined ? { error: this.message } : { error: this.message, field: this.field };
  }
}

/** A /process field that is missing or not of its type: always a 400 naming the field. */
export class FieldError extends ProtocolError {
  constructor(field: string, message: string) {
    super(400, message, { field, reason: 'invalid_data' });
    this.name = 'FieldError';
  }
}

/** A message for people, from anything thrown. */
export function errorMessage(err: unknown): string {
  // Errors from a function node's sandbox are Errors of another realm: not `instanceof Error`.
  if (err instanceof Error || (typeof err === 'object' && err !== null && typeof (err as Error).message === 'string')) {
    return (err as Error).message || (err as Error).name || 'error';
  }
  if (typeof err === 'string') return err;
  try {
    // JSON has no text for undefined, a function or a symbol: String() has.
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

/**
 * A JSON.parse error without the piece of input V8 quotes in it ("Unexpected token 'a', "abc
 * secret"... is not valid JSON"): the input may be a request carrying tokens.
 */
export function jsonProblem(err: unknown): string {
  const text = errorMessage(err);
  return text.replace(/, ".*" is not valid JSON$/s, ' (not valid JSON)').replace(/, ".*"\.\.\. is not valid JSON$/s, ' (not valid JSON)');
}
