/**
 * The one error family of the platform. Domain code throws HuiyingError with a code; each protocol
 * adapter maps the code in one place (HTTP status here, DIMSE status in dimse-adapter/status.ts).
 */
export type ErrorCode =
  | 'invalid-input' // malformed request or data (bad DICOM, bad query)
  | 'not-found'
  | 'conflict' // duplicate, concurrent change
  | 'unauthenticated'
  | 'forbidden'
  | 'unsupported' // e.g. SOP class / transfer syntax we do not handle
  | 'unavailable' // storage or database down: retry later
  | 'internal';

export class HuiyingError extends Error {
  readonly code: ErrorCode;
  readonly detail?: Record<string, unknown>;
  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; detail?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HuiyingError';
    this.code = code;
    if (options?.detail !== undefined) this.detail = options.detail;
  }
}

export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'invalid-input':
      return 400;
    case 'unauthenticated':
      return 401;
    case 'forbidden':
      return 403;
    case 'not-found':
      return 404;
    case 'conflict':
      return 409;
    case 'unsupported':
      return 415;
    case 'unavailable':
      return 503;
    case 'internal':
      return 500;
  }
}

/** The message of any thrown value, for logs and error comments. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
