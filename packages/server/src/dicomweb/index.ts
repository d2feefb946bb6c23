export { registerDicomweb } from './plugin.ts';
export type { Caller, DicomwebOptions, DicomwebHandle } from './plugin.ts';
