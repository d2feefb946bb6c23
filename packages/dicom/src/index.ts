export type { InstanceAttributes } from './index-attributes.ts';
export type {
  Matcher,
  QueryLevel,
  NormalizedPersonName,
  PersonNameQuery,
  PersonNameGroup,
} from './matching.ts';
export {
  parseMatcher,
  matchValue,
  wildcardMatch,
  normalizePersonName,
  personNameQueryForms,
  matchPersonName,
} from './matching.ts';
export {
  CHARSET_VRS,
  CharsetError,
  charsetTerms,
  charsetString,
  decodeText,
  encodeText,
  canEncodeText,
  isSupportedTargetCharset,
  chooseResponseCharset,
  looksLikeGb18030,
  repairDecision,
} from './charset.ts';
export type {
  DicomJson,
  DicomElement,
  PersonName,
  DecodeOptions,
  DecodeResult,
  EncodeOptions,
} from './codec.ts';
export {
  decodeDataset,
  decodeDatasetDetailed,
  encodeDataset,
  parsePersonName,
  formatPersonName,
  textValues,
  isBinaryVr,
} from './codec.ts';
export { DicomParseError } from './errors.ts';
export type { FileMeta, Part10Info, FileMetaOptions } from './part10.ts';
export {
  readPart10,
  buildFileMeta,
  writePart10,
  guessRawTransferSyntax,
  makeUid,
  HUIYING_IMPLEMENTATION_CLASS_UID,
  HUIYING_IMPLEMENTATION_VERSION_NAME,
} from './part10.ts';
export type { HeaderOptions, HeaderResult } from './header.ts';
export {
  readHeader,
  readHeaderFromBuffer,
  extractIndexAttributes,
  elementString,
  InvalidInstanceError,
} from './header.ts';
export type { TransferSyntaxInfo } from './uids.ts';
export {
  TRANSFER_SYNTAXES,
  STORAGE_SOP_CLASSES,
  QUERY_RETRIEVE_SOP_CLASSES,
  IMPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_LITTLE_ENDIAN,
  DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_BIG_ENDIAN,
  VERIFICATION_SOP_CLASS,
  STORAGE_COMMITMENT_PUSH_MODEL,
  MEDIA_STORAGE_DIRECTORY,
  transferSyntaxInfo,
  isValidUid,
} from './uids.ts';
export { dictionaryVr, tagKeyword, keywordToTag, tagToHex, formatTag } from './dictionary.ts';
