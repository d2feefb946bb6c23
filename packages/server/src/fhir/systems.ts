/**
 * The URIs of Huiying's FHIR mapping: identifier systems per hospital, code systems, extension URLs.
 * Documented in docs/conformance-statement.md (FHIR R4).
 */

export const EXT = 'http://huiying.org/fhir/StructureDefinition/';
export const CS = 'http://huiying.org/fhir/CodeSystem/';

/** Extensions on ServiceRequest (and its Annotation notes). */
export const EXT_EXAM_PURPOSE = `${EXT}exam-purpose`; // valueString 检查目的
export const EXT_REQUESTING_DEPARTMENT = `${EXT}requesting-department`; // valueString 申请科室
export const EXT_PATIENT_CLASS = `${EXT}patient-class`; // valueCoding (CS_PATIENT_CLASS or v3 ActCode)
export const EXT_COMPLEX = `${EXT}complex-exam`; // valueBoolean 复杂检查
export const EXT_NOTE_KIND = `${EXT}note-kind`; // on Annotation: valueCode clinical-history | symptoms
export const EXT_MODALITY = `${EXT}modality`; // valueCoding DCM (alternative to category)
export const EXT_EXAM_STATUS = `${EXT}exam-status`; // read-only: valueCoding CS_EXAM_STATUS
export const EXT_STUDY_UID = `${EXT}study-instance-uid`; // read-only: valueIdentifier urn:dicom:uid
export const EXT_REPORT_DUE = `${EXT}report-due`; // read-only: valueDateTime
export const EXT_HOSPITAL = `${EXT}hospital`; // read-only: valueIdentifier urn:huiying:hospital
/** HL7 name representation: ABC (alphabetic), IDE (ideographic), SYL (phonetic) */
export const EXT_NAME_REPRESENTATION = 'http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation';

export const CS_PATIENT_CLASS = `${CS}patient-class`;
export const CS_EXAM_STATUS = `${CS}exam-status`;
export const CS_BODY_PART = `${CS}body-part-examined`;
export const CS_NOTE_KIND = `${CS}note-kind`;
export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const SNOMED = 'http://snomed.info/sct';
export const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
export const V3_ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const SR_CATEGORY = 'http://snomed.info/sct';
export const HOSPITAL_SYSTEM = 'urn:huiying:hospital';
export const DICOM_UID_SYSTEM = 'urn:dicom:uid';

const HOSPITAL_RE = /^urn:huiying:hospital:([A-Za-z0-9][A-Za-z0-9_-]{0,31}):([a-z-]+)$/;

/** `urn:huiying:hospital:<CODE>:<kind>` (kind: accession, placer, patient-id, exam-item) */
export function hospitalSystem(
  code: string,
  kind: 'accession' | 'placer' | 'patient-id' | 'exam-item',
): string {
  return `urn:huiying:hospital:${code}:${kind}`;
}

export function parseHospitalSystem(system: string): { code: string; kind: string } | undefined {
  const m = HOSPITAL_RE.exec(system);
  return m === null ? undefined : { code: m[1]!, kind: m[2]! };
}

const OID_RE = /^[0-2](\.(0|[1-9][0-9]*))+$/;
export const ISSUER_PREFIX = 'urn:huiying:issuer:';

/**
 * Patient identifier system ↔ Issuer of Patient ID (bijective):
 * issuer = hospital code ↔ `urn:huiying:hospital:<CODE>:patient-id`; an OID ↔ `urn:oid:<OID>`; an issuer that
 * is itself a URI (has a colon) ↔ that URI; anything else ↔ `urn:huiying:issuer:<percent-encoded>`.
 */
export function patientSystemOf(issuer: string, hospitalCode: string): string {
  if (issuer === hospitalCode) return hospitalSystem(hospitalCode, 'patient-id');
  if (OID_RE.test(issuer)) return `urn:oid:${issuer}`;
  if (issuer.includes(':')) return issuer;
  return ISSUER_PREFIX + encodeURIComponent(issuer);
}

/** The issuer a patient identifier system names (`undefined` system → the hospital's default issuer). */
export function issuerOfSystem(system: string | undefined): { issuer?: string; hospitalCode?: string } {
  if (system === undefined || system === '') return {};
  const h = parseHospitalSystem(system);
  if (h !== undefined && h.kind === 'patient-id') return { issuer: h.code, hospitalCode: h.code };
  if (system.startsWith('urn:oid:') && OID_RE.test(system.slice(8))) return { issuer: system.slice(8) };
  if (system.startsWith(ISSUER_PREFIX)) {
    try {
      return { issuer: decodeURIComponent(system.slice(ISSUER_PREFIX.length)) };
    } catch {
      return { issuer: system };
    }
  }
  return { issuer: system };
}

/** DICOM modalities (DCM code system) with display names. */
export const MODALITIES: Record<string, string> = {
  CT: 'Computed Tomography',
  MR: 'Magnetic Resonance',
  CR: 'Computed Radiography',
  DX: 'Digital Radiography',
  DR: 'Digital Radiography',
  US: 'Ultrasound',
  MG: 'Mammography',
  RF: 'Radio Fluoroscopy',
  XA: 'X-Ray Angiography',
  NM: 'Nuclear Medicine',
  PT: 'Positron emission tomography',
  ES: 'Endoscopy',
  OT: 'Other',
  IO: 'Intra-oral Radiography',
  PX: 'Panoramic X-Ray',
  OCT: 'Optical Coherence Tomography',
  XC: 'External-camera Photography',
  ECG: 'Electrocardiography',
  BMD: 'Bone Mineral Densitometry',
};

/** DICOM Body Part Examined (0018,0015) ↔ SNOMED CT (PS3.16 CID 4031), for the common ones. */
export const BODY_PARTS: Record<string, { snomed: string; display: string; zh: string }> = {
  HEAD: { snomed: '69536005', display: 'Head', zh: '头部' },
  BRAIN: { snomed: '12738006', display: 'Brain', zh: '颅脑' },
  SKULL: { snomed: '89546000', display: 'Skull', zh: '颅骨' },
  NECK: { snomed: '45048000', display: 'Neck', zh: '颈部' },
  CHEST: { snomed: '51185008', display: 'Chest', zh: '胸部' },
  ABDOMEN: { snomed: '113345001', display: 'Abdomen', zh: '腹部' },
  PELVIS: { snomed: '12921003', display: 'Pelvis', zh: '盆腔' },
  HEART: { snomed: '80891009', display: 'Heart', zh: '心脏' },
  BREAST: { snomed: '76752008', display: 'Breast', zh: '乳腺' },
  LIVER: { snomed: '10200004', display: 'Liver', zh: '肝脏' },
  KIDNEY: { snomed: '64033007', display: 'Kidney', zh: '肾脏' },
  CSPINE: { snomed: '122494005', display: 'Cervical spine', zh: '颈椎' },
  TSPINE: { snomed: '122495006', display: 'Thoracic spine', zh: '胸椎' },
  LSPINE: { snomed: '122496007', display: 'Lumbar spine', zh: '腰椎' },
  SHOULDER: { snomed: '16982005', display: 'Shoulder', zh: '肩关节' },
  ELBOW: { snomed: '76248009', display: 'Elbow', zh: '肘关节' },
  WRIST: { snomed: '74670003', display: 'Wrist', zh: '腕关节' },
  HAND: { snomed: '85562004', display: 'Hand', zh: '手' },
  HIP: { snomed: '24136001', display: 'Hip', zh: '髋关节' },
  KNEE: { snomed: '72696002', display: 'Knee', zh: '膝关节' },
  ANKLE: { snomed: '70258002', display: 'Ankle', zh: '踝关节' },
  FOOT: { snomed: '56459004', display: 'Foot', zh: '足' },
};

export const PATIENT_CLASS_DISPLAY: Record<string, string> = {
  outpatient: '门诊',
  inpatient: '住院',
  emergency: '急诊',
  physical_exam: '体检',
};

/** v3 ActCode encounter classes → patient class */
export const V3_CLASS: Record<string, 'outpatient' | 'inpatient' | 'emergency'> = {
  AMB: 'outpatient',
  IMP: 'inpatient',
  ACUTE: 'inpatient',
  NONAC: 'inpatient',
  SS: 'inpatient',
  EMER: 'emergency',
};

export const EXAM_STATUS_DISPLAY: Record<string, string> = {
  registered: '已登记',
  examined: '已检查',
  matched: '已匹配',
  reported: '已报告',
  reviewed: '已审核',
  cancelled: '已取消',
  returned: '已退回',
};
