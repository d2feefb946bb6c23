/** UIDs the network layer needs to know about (PS3.6 Annex A). */

export const ApplicationContextName = '1.2.840.10008.3.1.1.1';

export const TransferSyntax = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
  JpegBaseline: '1.2.840.10008.1.2.4.50',
  JpegLossless: '1.2.840.10008.1.2.4.70',
  Jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  Jpeg2000: '1.2.840.10008.1.2.4.91',
  RleLossless: '1.2.840.10008.1.2.5',
} as const;

export const SopClass = {
  Verification: '1.2.840.10008.1.1',
  PatientRootFind: '1.2.840.10008.5.1.4.1.2.1.1',
  PatientRootMove: '1.2.840.10008.5.1.4.1.2.1.2',
  PatientRootGet: '1.2.840.10008.5.1.4.1.2.1.3',
  StudyRootFind: '1.2.840.10008.5.1.4.1.2.2.1',
  StudyRootMove: '1.2.840.10008.5.1.4.1.2.2.2',
  StudyRootGet: '1.2.840.10008.5.1.4.1.2.2.3',
  PatientStudyOnlyFind: '1.2.840.10008.5.1.4.1.2.3.1',
  PatientStudyOnlyMove: '1.2.840.10008.5.1.4.1.2.3.2',
  PatientStudyOnlyGet: '1.2.840.10008.5.1.4.1.2.3.3',
  ModalityWorklistFind: '1.2.840.10008.5.1.4.31',
  CtImageStorage: '1.2.840.10008.5.1.4.1.1.2',
  MrImageStorage: '1.2.840.10008.5.1.4.1.1.4',
  SecondaryCaptureImageStorage: '1.2.840.10008.5.1.4.1.1.7',
} as const;

/** Kind of DIMSE service an abstract syntax is used for (storage = anything we do not know otherwise). */
export type ServiceKind = 'verification' | 'find' | 'move' | 'get' | 'storage';

const kinds = new Map<string, ServiceKind>([
  [SopClass.Verification, 'verification'],
  [SopClass.PatientRootFind, 'find'],
  [SopClass.StudyRootFind, 'find'],
  [SopClass.PatientStudyOnlyFind, 'find'],
  [SopClass.ModalityWorklistFind, 'find'],
  [SopClass.PatientRootMove, 'move'],
  [SopClass.StudyRootMove, 'move'],
  [SopClass.PatientStudyOnlyMove, 'move'],
  [SopClass.PatientRootGet, 'get'],
  [SopClass.StudyRootGet, 'get'],
  [SopClass.PatientStudyOnlyGet, 'get'],
]);

/** Service kind of an abstract syntax; unknown and private SOP classes are treated as storage. */
export function serviceKind(abstractSyntax: string): ServiceKind {
  return kinds.get(abstractSyntax) ?? 'storage';
}
