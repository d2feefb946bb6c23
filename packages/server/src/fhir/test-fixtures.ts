/** Test fixtures for the FHIR adapter: a complete imaging order as a HIS would send it. */
import {
  DCM,
  EXT_EXAM_PURPOSE,
  EXT_PATIENT_CLASS,
  EXT_REQUESTING_DEPARTMENT,
  SNOMED,
  V2_0203,
  V3_ACT_CODE,
} from './systems.ts';
import type { Json } from './validate.ts';

/** 张三's chest + upper abdomen CT (emergency, inpatient) at `hospital`, accession `acc`. */
export function sampleOrder(acc: string, hospital = 'CHENCUN'): Json {
  return {
    resourceType: 'ServiceRequest',
    contained: [
      {
        resourceType: 'Patient',
        id: 'p',
        identifier: [{ system: `urn:huiying:hospital:${hospital}:patient-id`, value: 'P0001' }],
        name: [{ text: '张三' }],
        gender: 'male',
        birthDate: '1960-03-15',
        telecom: [{ system: 'phone', value: '13800138000' }],
      },
    ],
    status: 'active',
    intent: 'order',
    identifier: [
      {
        type: { coding: [{ system: V2_0203, code: 'ACSN' }] },
        system: `urn:huiying:hospital:${hospital}:accession`,
        value: acc,
      },
      { type: { coding: [{ system: V2_0203, code: 'PLAC' }] }, value: 'HIS-778899' },
    ],
    category: [{ coding: [{ system: DCM, code: 'CT' }] }],
    code: {
      coding: [
        { system: `urn:huiying:hospital:${hospital}:exam-item`, code: 'CT0012', display: '胸部CT平扫' },
        { code: 'CT0031', display: '上腹部CT平扫' },
      ],
    },
    bodySite: [{ coding: [{ system: SNOMED, code: '51185008' }] }],
    priority: 'stat',
    subject: { reference: '#p' },
    occurrenceDateTime: '2026-11-26T09:30:00+08:00',
    requester: { display: '李医生' },
    reasonCode: [{ text: '肺部感染？' }],
    note: [{ text: '病史：咳嗽两周，发热三天' }, { text: '症状：胸闷、气促' }],
    extension: [
      { url: EXT_EXAM_PURPOSE, valueString: '排除肺炎' },
      { url: EXT_REQUESTING_DEPARTMENT, valueString: '呼吸内科' },
      { url: EXT_PATIENT_CLASS, valueCoding: { system: V3_ACT_CODE, code: 'IMP' } },
    ],
  };
}
