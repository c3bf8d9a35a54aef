/**
 * The one error type of the SDK: server errors keep the server's `code`; problems found by
 * the SDK itself use the `client.*` / `connection.*` codes below.
 */
import { CloseCodes, ErrorCodes, isErrorCode, type ErrorCode } from '@careline/protocol/constants';

/** Codes the SDK itself reports (the server never sends these). */
export type ClientErrorCode =
  /** `close()` was called while the operation was pending. */
  | 'client.closed'
  /** The HTTP request did not reach the server (DNS, refused, offline, CORS). */
  | 'client.network_error'
  /** The HTTP request took longer than `requestTimeoutMs`. */
  | 'client.timeout'
  /** The server answered something that is not the JSON the contract describes. */
  | 'client.invalid_response'
  /** Missing messages could not be fetched; the SDK skipped over them (see `details`). */
  | 'client.gap_skipped'
  /** The persistent storage could not be read or written. */
  | 'client.storage'
  /** `tokenProvider` threw or rejected (see `cause`); it is asked again after a backoff delay. */
  | 'client.token_provider'
  /** The server closed the connection because the same credentials connected elsewhere (4503). */
  | 'connection.replaced'
  /** The server closed the connection with a terminal close code the SDK has no name for. */
  | 'connection.terminated'
  /** The operation was cancelled by its `AbortSignal` (an upload). */
  | 'client.aborted';

export type CarelineErrorCode = ErrorCode | ClientErrorCode;

export interface CarelineErrorInit {
  /** HTTP status, for errors answering a REST request. */
  status?: number;
  /** WebSocket close code, for errors that ended a connection. */
  closeCode?: number;
  details?: unknown;
  cause?: unknown;
  /** For errors answering a send: the message's `client_id` and conversation. */
  clientId?: string;
  conversationId?: string;
}

/** An error with a stable, machine-readable `code` (see `docs/errors.md`). */
export class CarelineError extends Error {
  override name = 'CarelineError';
  /** The server's error code, or one of the SDK's `client.*` / `connection.*` codes. */
  readonly code: CarelineErrorCode;
  readonly status: number | undefined;
  readonly closeCode: number | undefined;
  readonly details: unknown;
  /** Set on errors that rejected a send: the message's `client_id`. */
  readonly clientId: string | undefined;
  /** Set on errors about one conversation (failed sends, skipped gaps). */
  readonly conversationId: string | undefined;

  constructor(code: CarelineErrorCode, message: string, init: CarelineErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.status = init.status;
    this.closeCode = init.closeCode;
    this.details = init.details;
    this.clientId = init.clientId;
    this.conversationId = init.conversationId;
  }

  /**
   * Whether trying the same thing again later may succeed: server-side failures (5xx),
   * rate limiting and network problems. Validation and permission errors are not.
   */
  get retryable(): boolean {
    if (this.code === 'client.network_error' || this.code === 'client.timeout') return true;
    const status = isErrorCode(this.code) ? ErrorCodes[this.code].status : this.status;
    return status !== undefined && (status >= 500 || status === 429);
  }
}

const terminalCodes: Record<number, CarelineErrorCode> = {
  [CloseCodes.AUTH_FAILED]: 'auth.invalid_token',
  [CloseCodes.TOKEN_EXPIRED]: 'auth.token_expired',
  [CloseCodes.TOKEN_REVOKED]: 'auth.token_revoked',
  [CloseCodes.CONNECTED_ELSEWHERE]: 'connection.replaced',
  [CloseCodes.USER_DISABLED]: 'user.disabled',
};

/** The error reported when the server ends a connection with a terminal close code (4500–4999). */
export function closeError(closeCode: number, reason: string): CarelineError {
  const code: CarelineErrorCode = isErrorCode(reason) ? reason : (terminalCodes[closeCode] ?? 'connection.terminated');
  const message = reason && !isErrorCode(reason) ? reason : `The server closed the connection (${closeCode}).`;
  return new CarelineError(code, message, { closeCode });
}

/** `err` as a `CarelineError` (unknown errors are wrapped). */
export function toCarelineError(err: unknown, code: CarelineErrorCode = 'client.invalid_response'): CarelineError {
  if (err instanceof CarelineError) return err;
  return new CarelineError(code, err instanceof Error ? err.message : String(err), { cause: err });
}
