/**
 * The attributes the archive index keeps for one instance, extracted from its header.
 * Every text value is already decoded from its Specific Character Set to a JS (UTF-16) string,
 * trimmed of DICOM padding. Missing attributes are `undefined`; empty-but-present are ''.
 *
 * Person names are kept in their full DICOM form (`Alphabetic=Ideographic=Phonetic`, components
 * separated by `^`), e.g. `Zhang^San=张^三`.
 */
export interface InstanceAttributes {
  // Patient level
  PatientID?: string;
  IssuerOfPatientID?: string;
  PatientName?: string;
  PatientBirthDate?: string;
  PatientBirthTime?: string;
  PatientSex?: string;
  OtherPatientIDs?: string; // multi-valued joined with '\'
  // Study level
  StudyInstanceUID: string;
  StudyDate?: string;
  StudyTime?: string;
  AccessionNumber?: string;
  /** (0008,0051) Issuer of Accession Number Sequence → Local Namespace Entity ID, when present */
  IssuerOfAccessionNumber?: string;
  StudyID?: string;
  StudyDescription?: string;
  ReferringPhysicianName?: string;
  InstitutionName?: string;
  PatientAge?: string;
  PatientSize?: string;
  PatientWeight?: string;
  // Series level
  SeriesInstanceUID: string;
  Modality?: string;
  SeriesNumber?: string;
  SeriesDescription?: string;
  SeriesDate?: string;
  SeriesTime?: string;
  BodyPartExamined?: string;
  StationName?: string;
  Manufacturer?: string;
  PerformedProcedureStepStartDate?: string;
  PerformedProcedureStepStartTime?: string;
  // Instance level
  SOPInstanceUID: string;
  SOPClassUID: string;
  InstanceNumber?: string;
  ContentDate?: string;
  ContentTime?: string;
  AcquisitionDate?: string;
  NumberOfFrames?: string;
  Rows?: string;
  Columns?: string;
  BitsAllocated?: string;
  /** the original (0008,0005) value, e.g. `\ISO 2022 IR 58` or `GB18030` */
  SpecificCharacterSet?: string;
}
