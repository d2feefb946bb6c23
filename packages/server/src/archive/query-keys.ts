/**
 * The query/return keys the archive supports at each level (C-FIND and QIDO-RS), with tag and VR.
 * This table is the single source for identifier building, QIDO attribute selection and the
 * conformance statement.
 */
import type { QueryLevel } from '@huiying/dicom';

export interface QueryKey {
  keyword: string;
  tag: string; // 8 upper-case hex digits
  vr: string;
  level: QueryLevel;
  /** unique key of its level */
  unique?: boolean;
  /** computed by the archive (counts, lists), return-only */
  derived?: boolean;
}

const k = (
  level: QueryLevel,
  tag: string,
  vr: string,
  keyword: string,
  extra?: Partial<QueryKey>,
): QueryKey => ({
  keyword,
  tag,
  vr,
  level,
  ...extra,
});

export const QUERY_KEYS: readonly QueryKey[] = [
  // Patient
  k('PATIENT', '00100010', 'PN', 'PatientName'),
  k('PATIENT', '00100020', 'LO', 'PatientID', { unique: true }),
  k('PATIENT', '00100021', 'LO', 'IssuerOfPatientID'),
  k('PATIENT', '00100030', 'DA', 'PatientBirthDate'),
  k('PATIENT', '00100032', 'TM', 'PatientBirthTime'),
  k('PATIENT', '00100040', 'CS', 'PatientSex'),
  k('PATIENT', '00101000', 'LO', 'OtherPatientIDs'),
  k('PATIENT', '00201200', 'IS', 'NumberOfPatientRelatedStudies', { derived: true }),
  k('PATIENT', '00201202', 'IS', 'NumberOfPatientRelatedSeries', { derived: true }),
  k('PATIENT', '00201204', 'IS', 'NumberOfPatientRelatedInstances', { derived: true }),
  // Study
  k('STUDY', '0020000D', 'UI', 'StudyInstanceUID', { unique: true }),
  k('STUDY', '00080020', 'DA', 'StudyDate'),
  k('STUDY', '00080030', 'TM', 'StudyTime'),
  k('STUDY', '00080050', 'SH', 'AccessionNumber'),
  k('STUDY', '00200010', 'SH', 'StudyID'),
  k('STUDY', '00081030', 'LO', 'StudyDescription'),
  k('STUDY', '00080090', 'PN', 'ReferringPhysicianName'),
  k('STUDY', '00080080', 'LO', 'InstitutionName'),
  k('STUDY', '00101010', 'AS', 'PatientAge'),
  k('STUDY', '00101020', 'DS', 'PatientSize'),
  k('STUDY', '00101030', 'DS', 'PatientWeight'),
  k('STUDY', '00080061', 'CS', 'ModalitiesInStudy', { derived: true }),
  k('STUDY', '00080062', 'UI', 'SOPClassesInStudy', { derived: true }),
  k('STUDY', '00201206', 'IS', 'NumberOfStudyRelatedSeries', { derived: true }),
  k('STUDY', '00201208', 'IS', 'NumberOfStudyRelatedInstances', { derived: true }),
  // Series
  k('SERIES', '0020000E', 'UI', 'SeriesInstanceUID', { unique: true }),
  k('SERIES', '00080060', 'CS', 'Modality'),
  k('SERIES', '00200011', 'IS', 'SeriesNumber'),
  k('SERIES', '0008103E', 'LO', 'SeriesDescription'),
  k('SERIES', '00080021', 'DA', 'SeriesDate'),
  k('SERIES', '00080031', 'TM', 'SeriesTime'),
  k('SERIES', '00180015', 'CS', 'BodyPartExamined'),
  k('SERIES', '00081010', 'SH', 'StationName'),
  k('SERIES', '00080070', 'LO', 'Manufacturer'),
  k('SERIES', '00400244', 'DA', 'PerformedProcedureStepStartDate'),
  k('SERIES', '00400245', 'TM', 'PerformedProcedureStepStartTime'),
  k('SERIES', '00201209', 'IS', 'NumberOfSeriesRelatedInstances', { derived: true }),
  // Instance
  k('IMAGE', '00080018', 'UI', 'SOPInstanceUID', { unique: true }),
  k('IMAGE', '00080016', 'UI', 'SOPClassUID'),
  k('IMAGE', '00200013', 'IS', 'InstanceNumber'),
  k('IMAGE', '00080023', 'DA', 'ContentDate'),
  k('IMAGE', '00080033', 'TM', 'ContentTime'),
  k('IMAGE', '00080022', 'DA', 'AcquisitionDate'),
  k('IMAGE', '00280008', 'IS', 'NumberOfFrames'),
  k('IMAGE', '00280010', 'US', 'Rows'),
  k('IMAGE', '00280011', 'US', 'Columns'),
  k('IMAGE', '00280100', 'US', 'BitsAllocated'),
  k('IMAGE', '00020010', 'UI', 'TransferSyntaxUID', { derived: true }),
];

export const QUERY_KEY_BY_TAG: ReadonlyMap<string, QueryKey> = new Map(QUERY_KEYS.map((q) => [q.tag, q]));
export const QUERY_KEY_BY_KEYWORD: ReadonlyMap<string, QueryKey> = new Map(
  QUERY_KEYS.map((q) => [q.keyword, q]),
);

const ORDER: Record<QueryLevel, number> = { PATIENT: 0, STUDY: 1, SERIES: 2, IMAGE: 3 };

/** Keys usable at `level`: its own and those of higher levels (relational-style for the levels above). */
export function keysAtOrAbove(level: QueryLevel): QueryKey[] {
  return QUERY_KEYS.filter((q) => ORDER[q.level] <= ORDER[level]);
}

export function levelOrder(level: QueryLevel): number {
  return ORDER[level];
}
