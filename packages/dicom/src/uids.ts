/** UIDs: transfer syntaxes, SOP classes, UID syntax. */

export interface TransferSyntaxInfo {
  uid: string;
  name: string;
  explicitVr: boolean;
  littleEndian: boolean;
  /** pixel data is encapsulated (compressed fragments) */
  encapsulated: boolean;
  /** the whole data set is deflated (zlib raw deflate) after the File Meta */
  deflated: boolean;
  retired: boolean;
  /** lossy compression possible */
  lossy: boolean;
}

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99';
export const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';
export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

function ts(
  uid: string,
  name: string,
  o: {
    implicit?: boolean;
    be?: boolean;
    enc?: boolean;
    defl?: boolean;
    retired?: boolean;
    lossy?: boolean;
  } = {},
): TransferSyntaxInfo {
  return {
    uid,
    name,
    explicitVr: !o.implicit,
    littleEndian: !o.be,
    encapsulated: o.enc ?? false,
    deflated: o.defl ?? false,
    retired: o.retired ?? false,
    lossy: o.lossy ?? false,
  };
}

const TS_LIST: TransferSyntaxInfo[] = [
  ts(IMPLICIT_VR_LITTLE_ENDIAN, 'Implicit VR Little Endian', { implicit: true }),
  ts(EXPLICIT_VR_LITTLE_ENDIAN, 'Explicit VR Little Endian'),
  ts('1.2.840.10008.1.2.1.98', 'Encapsulated Uncompressed Explicit VR Little Endian', { enc: true }),
  ts(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, 'Deflated Explicit VR Little Endian', { defl: true }),
  ts(EXPLICIT_VR_BIG_ENDIAN, 'Explicit VR Big Endian', { be: true, retired: true }),
  ts('1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.4.52', 'JPEG Extended (Process 3 & 5)', { enc: true, lossy: true, retired: true }),
  ts('1.2.840.10008.1.2.4.53', 'JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8)', {
    enc: true,
    lossy: true,
    retired: true,
  }),
  ts('1.2.840.10008.1.2.4.54', 'JPEG Spectral Selection, Non-Hierarchical (Process 7 & 9)', {
    enc: true,
    lossy: true,
    retired: true,
  }),
  ts('1.2.840.10008.1.2.4.55', 'JPEG Full Progression, Non-Hierarchical (Process 10 & 12)', {
    enc: true,
    lossy: true,
    retired: true,
  }),
  ts('1.2.840.10008.1.2.4.56', 'JPEG Full Progression, Non-Hierarchical (Process 11 & 13)', {
    enc: true,
    lossy: true,
    retired: true,
  }),
  ts('1.2.840.10008.1.2.4.57', 'JPEG Lossless, Non-Hierarchical (Process 14)', { enc: true }),
  ts('1.2.840.10008.1.2.4.58', 'JPEG Lossless, Non-Hierarchical (Process 15)', { enc: true, retired: true }),
  ts('1.2.840.10008.1.2.4.70', 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [SV1])', {
    enc: true,
  }),
  ts('1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless', { enc: true }),
  ts('1.2.840.10008.1.2.4.81', 'JPEG-LS Lossy (Near-Lossless)', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.4.90', 'JPEG 2000 Image Compression (Lossless Only)', { enc: true }),
  ts('1.2.840.10008.1.2.4.91', 'JPEG 2000 Image Compression', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.4.92', 'JPEG 2000 Part 2 Multi-component (Lossless Only)', { enc: true }),
  ts('1.2.840.10008.1.2.4.93', 'JPEG 2000 Part 2 Multi-component', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.4.94', 'JPIP Referenced', { retired: true }),
  ts('1.2.840.10008.1.2.4.95', 'JPIP Referenced Deflate', { defl: true, retired: true }),
  ts('1.2.840.10008.1.2.4.100', 'MPEG2 Main Profile / Main Level', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.4.101', 'MPEG2 Main Profile / High Level', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.4.102', 'MPEG-4 AVC/H.264 High Profile / Level 4.1', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.4.103', 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1', {
    enc: true,
    lossy: true,
  }),
  ts('1.2.840.10008.1.2.4.104', 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video', {
    enc: true,
    lossy: true,
  }),
  ts('1.2.840.10008.1.2.4.105', 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video', {
    enc: true,
    lossy: true,
  }),
  ts('1.2.840.10008.1.2.4.106', 'MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2', {
    enc: true,
    lossy: true,
  }),
  ts('1.2.840.10008.1.2.4.107', 'HEVC/H.265 Main Profile / Level 5.1', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.4.108', 'HEVC/H.265 Main 10 Profile / Level 5.1', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.4.110', 'JPEG XL Lossless', { enc: true }),
  ts('1.2.840.10008.1.2.4.111', 'JPEG XL JPEG Recompression', { enc: true }),
  ts('1.2.840.10008.1.2.4.112', 'JPEG XL', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.4.201', 'High-Throughput JPEG 2000 Image Compression (Lossless Only)', { enc: true }),
  ts(
    '1.2.840.10008.1.2.4.202',
    'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)',
    {
      enc: true,
    },
  ),
  ts('1.2.840.10008.1.2.4.203', 'High-Throughput JPEG 2000 Image Compression', { enc: true, lossy: true }),
  ts('1.2.840.10008.1.2.5', 'RLE Lossless', { enc: true }),
  ts('1.2.840.10008.1.2.6.1', 'RFC 2557 MIME encapsulation', { retired: true }),
  ts('1.2.840.10008.1.2.6.2', 'XML Encoding', { retired: true }),
  ts('1.2.840.10008.1.2.7.1', 'SMPTE ST 2110-20 Uncompressed Progressive Active Video', {}),
  ts('1.2.840.10008.1.2.8.1', 'Deflated Image Frame Compression', { enc: true }),
];

export const TRANSFER_SYNTAXES: ReadonlyMap<string, TransferSyntaxInfo> = new Map(
  TS_LIST.map((t) => [t.uid, t]),
);

/**
 * Info for a transfer syntax UID. Unknown UIDs are assumed to be explicit VR little endian with
 * encapsulated pixel data (PS3.5 A.4: every compressed syntax uses explicit VR LE for the data set).
 */
export function transferSyntaxInfo(uid: string): TransferSyntaxInfo {
  return (
    TRANSFER_SYNTAXES.get(uid) ?? {
      uid,
      name: `Unknown (${uid})`,
      explicitVr: true,
      littleEndian: true,
      encapsulated: true,
      deflated: false,
      retired: false,
      lossy: true,
    }
  );
}

/** Common storage SOP classes (uid → name). Unknown storage classes are still accepted by the archive. */
export const STORAGE_SOP_CLASSES: ReadonlyMap<string, string> = new Map([
  ['1.2.840.10008.5.1.4.1.1.1', 'Computed Radiography Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.1.1', 'Digital X-Ray Image Storage - For Presentation'],
  ['1.2.840.10008.5.1.4.1.1.1.1.1', 'Digital X-Ray Image Storage - For Processing'],
  ['1.2.840.10008.5.1.4.1.1.1.2', 'Digital Mammography X-Ray Image Storage - For Presentation'],
  ['1.2.840.10008.5.1.4.1.1.1.2.1', 'Digital Mammography X-Ray Image Storage - For Processing'],
  ['1.2.840.10008.5.1.4.1.1.1.3', 'Digital Intra-Oral X-Ray Image Storage - For Presentation'],
  ['1.2.840.10008.5.1.4.1.1.2', 'CT Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.2.1', 'Enhanced CT Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.3.1', 'Ultrasound Multi-frame Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.4', 'MR Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.4.1', 'Enhanced MR Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.4.2', 'MR Spectroscopy Storage'],
  ['1.2.840.10008.5.1.4.1.1.6.1', 'Ultrasound Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.6.2', 'Enhanced US Volume Storage'],
  ['1.2.840.10008.5.1.4.1.1.7', 'Secondary Capture Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.7.1', 'Multi-frame Single Bit Secondary Capture Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.7.2', 'Multi-frame Grayscale Byte Secondary Capture Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.7.3', 'Multi-frame Grayscale Word Secondary Capture Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.7.4', 'Multi-frame True Color Secondary Capture Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.9.1.1', '12-lead ECG Waveform Storage'],
  ['1.2.840.10008.5.1.4.1.1.9.1.2', 'General ECG Waveform Storage'],
  ['1.2.840.10008.5.1.4.1.1.11.1', 'Grayscale Softcopy Presentation State Storage'],
  ['1.2.840.10008.5.1.4.1.1.11.2', 'Color Softcopy Presentation State Storage'],
  ['1.2.840.10008.5.1.4.1.1.12.1', 'X-Ray Angiographic Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.12.2', 'X-Ray Radiofluoroscopic Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.13.1.1', 'X-Ray 3D Angiographic Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.13.1.3', 'Breast Tomosynthesis Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.20', 'Nuclear Medicine Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.30', 'Parametric Map Storage'],
  ['1.2.840.10008.5.1.4.1.1.66', 'Raw Data Storage'],
  ['1.2.840.10008.5.1.4.1.1.66.1', 'Spatial Registration Storage'],
  ['1.2.840.10008.5.1.4.1.1.66.4', 'Segmentation Storage'],
  ['1.2.840.10008.5.1.4.1.1.77.1.1', 'VL Endoscopic Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.77.1.2', 'VL Microscopic Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.77.1.4', 'VL Photographic Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.77.1.5.1', 'Ophthalmic Photography 8 Bit Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.77.1.6', 'VL Whole Slide Microscopy Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.88.11', 'Basic Text SR Storage'],
  ['1.2.840.10008.5.1.4.1.1.88.22', 'Enhanced SR Storage'],
  ['1.2.840.10008.5.1.4.1.1.88.33', 'Comprehensive SR Storage'],
  ['1.2.840.10008.5.1.4.1.1.88.34', 'Comprehensive 3D SR Storage'],
  ['1.2.840.10008.5.1.4.1.1.88.59', 'Key Object Selection Document Storage'],
  ['1.2.840.10008.5.1.4.1.1.88.67', 'X-Ray Radiation Dose SR Storage'],
  ['1.2.840.10008.5.1.4.1.1.104.1', 'Encapsulated PDF Storage'],
  ['1.2.840.10008.5.1.4.1.1.104.2', 'Encapsulated CDA Storage'],
  ['1.2.840.10008.5.1.4.1.1.128', 'Positron Emission Tomography Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.130', 'Enhanced PET Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.481.1', 'RT Image Storage'],
  ['1.2.840.10008.5.1.4.1.1.481.2', 'RT Dose Storage'],
  ['1.2.840.10008.5.1.4.1.1.481.3', 'RT Structure Set Storage'],
  ['1.2.840.10008.5.1.4.1.1.481.4', 'RT Beams Treatment Record Storage'],
  ['1.2.840.10008.5.1.4.1.1.481.5', 'RT Plan Storage'],
  ['1.2.840.10008.5.1.4.1.1.481.8', 'RT Ion Plan Storage'],
  ['1.2.840.10008.5.1.4.39.1', 'Color Palette Storage'],
]);

/** Query/Retrieve SOP classes. */
export const QUERY_RETRIEVE_SOP_CLASSES = {
  PatientRootFind: '1.2.840.10008.5.1.4.1.2.1.1',
  PatientRootMove: '1.2.840.10008.5.1.4.1.2.1.2',
  PatientRootGet: '1.2.840.10008.5.1.4.1.2.1.3',
  StudyRootFind: '1.2.840.10008.5.1.4.1.2.2.1',
  StudyRootMove: '1.2.840.10008.5.1.4.1.2.2.2',
  StudyRootGet: '1.2.840.10008.5.1.4.1.2.2.3',
  PatientStudyOnlyFind: '1.2.840.10008.5.1.4.1.2.3.1',
  PatientStudyOnlyMove: '1.2.840.10008.5.1.4.1.2.3.2',
  PatientStudyOnlyGet: '1.2.840.10008.5.1.4.1.2.3.3',
  CompositeInstanceRootGet: '1.2.840.10008.5.1.4.1.2.4.3',
  ModalityWorklistFind: '1.2.840.10008.5.1.4.31',
} as const;

export const STORAGE_COMMITMENT_PUSH_MODEL = '1.2.840.10008.1.20.1';
export const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';

/**
 * UID syntax check (PS3.5 9.1): at most 64 characters, digits and dots, no empty component.
 * `strict` additionally rejects leading zeros in a component (`1.02`), which the standard forbids but
 * real devices write; the archive accepts them (non-strict) so such instances can still be stored.
 */
export function isValidUid(uid: unknown, options: { strict?: boolean } = {}): uid is string {
  if (typeof uid !== 'string' || uid.length === 0 || uid.length > 64) return false;
  if (options.strict) return /^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$/.test(uid);
  return /^\d+(\.\d+)*$/.test(uid);
}
