/**
 * The one error factory. Domain code throws `AppError`s made here; the HTTP and WebSocket
 * adapters map them to replies and error frames with the same code.
 */
import { ErrorCodes, type ErrorBody, type ErrorCode } from '@careline/protocol/constants';

export class AppError extends Error {
  override name = 'AppError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;

  constructor(code: ErrorCode, message?: string, details?: unknown) {
    super(message ?? ErrorCodes[code].message);
    this.code = code;
    this.status = ErrorCodes[code].status;
    this.details = details;
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** Makes an `AppError`; `message` overrides the code's default text. */
export function fail(code: ErrorCode, message?: string, details?: unknown): AppError {
  return new AppError(code, message, details);
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}
