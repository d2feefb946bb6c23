import { formatTag } from './dictionary.ts';

/**
 * Malformed or truncated DICOM input. `offset` is the byte offset (in the buffer given to the parser,
 * or of the inflated data set for deflated syntaxes) of the element being read, `tag` its `(GGGG,EEEE)`.
 * `truncated` is true when the input simply ended too early (more bytes could make it parse), which
 * incremental readers use to decide to read more of the file.
 */
export class DicomParseError extends Error {
  override name = 'DicomParseError';
  readonly offset: number | undefined;
  readonly tag: string | undefined;
  readonly truncated: boolean;
  constructor(message: string, info: { offset?: number; tag?: number; truncated?: boolean } = {}) {
    const where = [
      info.tag !== undefined ? `element ${formatTag(info.tag)}` : undefined,
      info.offset !== undefined ? `offset ${info.offset}` : undefined,
    ]
      .filter(Boolean)
      .join(' at ');
    super(where ? `${message} (${where})` : message);
    this.offset = info.offset;
    this.tag = info.tag !== undefined ? formatTag(info.tag) : undefined;
    this.truncated = info.truncated ?? false;
  }
}
