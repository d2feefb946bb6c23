/** Mapping of the platform's error family to DIMSE statuses — the one place where this happens. */
import { DimseError, Status } from '@huiying/dimse';
import { HuiyingError, messageOf } from '../errors.ts';

/** Error Comment (0000,0902) is LO: at most 64 characters. */
export function errorComment(msg: string): string {
  const oneLine = msg.replace(/[\r\n\\]+/g, ' ').trim();
  return oneLine.length <= 64 ? oneLine : `${oneLine.slice(0, 61)}...`;
}

export function storeStatusOf(err: unknown): { status: number; errorComment: string } {
  if (err instanceof DimseError) return { status: err.status, errorComment: errorComment(err.message) };
  if (err instanceof HuiyingError) {
    const status =
      err.code === 'invalid-input'
        ? Status.CannotUnderstand
        : err.code === 'unsupported'
          ? Status.DataSetDoesNotMatchSopClass
          : err.code === 'forbidden' || err.code === 'unauthenticated'
            ? Status.NotAuthorized
            : err.code === 'unavailable'
              ? Status.OutOfResources
              : Status.ProcessingFailure;
    return { status, errorComment: errorComment(err.message) };
  }
  return {
    status: Status.ProcessingFailure,
    errorComment: errorComment(`internal error: ${messageOf(err)}`),
  };
}

/** For C-FIND / C-MOVE / C-GET failures thrown from handlers. */
export function queryFailure(err: unknown): DimseError {
  if (err instanceof DimseError) return err;
  if (err instanceof HuiyingError) {
    const status =
      err.code === 'invalid-input'
        ? Status.IdentifierDoesNotMatchSopClass
        : err.code === 'forbidden' || err.code === 'unauthenticated'
          ? Status.NotAuthorized
          : err.code === 'unavailable'
            ? Status.OutOfResources
            : Status.UnableToProcess;
    return new DimseError(status, errorComment(err.message));
  }
  return new DimseError(Status.UnableToProcess, errorComment(`internal error: ${messageOf(err)}`));
}
