export const DICOM_PACKAGE = '@huiying/dicom';
