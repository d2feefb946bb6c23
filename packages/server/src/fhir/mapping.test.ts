import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Exam, ExamStatus } from '../ris/model.ts';
import { FhirError } from './outcome.ts';
import { namesOfPn, patientInputOf, patientResource, pnOfNames, splitChineseName } from './patient.ts';
import { orderDifferences, orderInputOf, parseServiceRequest, serviceRequestOf } from './service-request.ts';
import { DCM, EXT_NOTE_KIND, V3_ACT_CODE, issuerOfSystem, patientSystemOf } from './systems.ts';
import { Checker, type Json } from './validate.ts';
import { sampleOrder } from './test-fixtures.ts';

function examOf(o: ReturnType<typeof orderInputOf>, status: ExamStatus = 'registered'): Exam {
  return {
    id: 7,
    hospitalId: o.hospitalId,
    hospitalName: '陈村医院',
    patient: {
      id: 3,
      hospitalId: o.hospitalId,
      patientId: o.patient.patientId,
      issuer: o.patient.issuer ?? 'CHENCUN',
      name: o.patient.name,
      sex: o.patient.sex ?? null,
      birthDate: o.patient.birthDate ?? null,
      phone: o.patient.phone ?? null,
      mergedInto: null,
      createdAt: '2026-11-26T01:00:00.000Z',
      updatedAt: '2026-11-26T01:00:00.000Z',
    },
    accessionNumber: o.accessionNumber!,
    placerOrderNumber: o.placerOrderNumber ?? null,
    examItems: o.examItems,
    modality: o.modality,
    bodyPart: o.bodyPart ?? null,
    priority: o.priority,
    patientClass: o.patientClass ?? null,
    complex: o.complex ?? false,
    clinicalHistory: o.clinicalHistory ?? null,
    symptoms: o.symptoms ?? null,
    clinicalDiagnosis: o.clinicalDiagnosis ?? null,
    examPurpose: o.examPurpose ?? null,
    requestingDepartment: o.requestingDepartment ?? null,
    requestingPhysician: o.requestingPhysician ?? null,
    scheduledAt: o.scheduledAt ?? null,
    source: 'fhir',
    status,
    statusAt: '2026-11-26T01:00:00.000Z',
    registeredAt: '2026-11-26T01:00:00.000Z',
    examinedAt: null,
    matchedAt: null,
    reportedAt: null,
    reviewedAt: null,
    studyId: null,
    studyInstanceUid: null,
    readAtCenter: true,
    reviewRequired: false,
    limitMinutes: 60,
    dueAt: null,
    assignedTo: null,
    assignedAt: null,
    identityConflict: null,
    version: 4,
    createdAt: '2026-11-26T01:00:00.000Z',
    updatedAt: '2026-11-26T02:00:00.000Z',
  };
}

function issuesOf(fn: () => unknown): { status: number; paths: string[]; text: string } {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FhirError, String(e));
    return {
      status: e.status,
      paths: e.issues.map((i) => i.expression ?? ''),
      text: e.issues.map((i) => i.diagnostics).join('\n'),
    };
  }
  assert.fail('expected a FhirError');
}

describe('FHIR ServiceRequest mapping', () => {
  test('every element maps into the order', () => {
    const p = parseServiceRequest(sampleOrder('CC2026001'));
    assert.equal(p.accessionNumber, 'CC2026001');
    assert.equal(p.hospitalCode, 'CHENCUN');
    assert.equal(p.placerOrderNumber, 'HIS-778899');
    assert.deepEqual(p.examItems, [
      { code: 'CT0012', name: '胸部CT平扫' },
      { code: 'CT0031', name: '上腹部CT平扫' },
    ]);
    assert.equal(p.modality, 'CT');
    assert.equal(p.bodyPart, 'CHEST');
    assert.equal(p.priority, 'emergency');
    assert.equal(p.patientClass, 'inpatient');
    assert.equal(p.clinicalHistory, '咳嗽两周，发热三天');
    assert.equal(p.symptoms, '胸闷、气促');
    assert.equal(p.clinicalDiagnosis, '肺部感染？');
    assert.equal(p.examPurpose, '排除肺炎');
    assert.equal(p.requestingDepartment, '呼吸内科');
    assert.equal(p.requestingPhysician, '李医生');
    assert.equal(p.scheduledAt, '2026-11-26T01:30:00.000Z');
    assert.equal(p.subject.kind, 'contained');
    if (p.subject.kind !== 'contained') return;
    assert.deepEqual(p.subject.patient, {
      patientId: 'P0001',
      issuer: 'CHENCUN',
      name: '张三',
      sex: 'M',
      birthDate: '19600315',
      phone: '13800138000',
    });
  });

  test('the exam maps back, and the result parses to the same order (round trip)', () => {
    const p = parseServiceRequest(sampleOrder('CC2026001'));
    if (p.subject.kind !== 'contained') assert.fail('contained');
    const input = orderInputOf(p, 2, p.subject.patient);
    const exam = examOf(input);
    const sr = serviceRequestOf(exam, 'CHENCUN');
    assert.equal(sr.status, 'active');
    assert.equal(sr.priority, 'stat');
    assert.deepEqual(sr.meta, { versionId: '4', lastUpdated: '2026-11-26T02:00:00.000Z' });
    assert.equal(sr.code?.text, '胸部CT平扫、上腹部CT平扫');
    assert.equal(sr.subject?.reference, 'Patient/3');
    assert.equal(sr.subject?.display, '张三');
    assert.deepEqual(sr.reasonCode, [{ text: '肺部感染？' }]);
    assert.equal(sr.note?.[0]?.text, '病史：咳嗽两周，发热三天');
    assert.equal(sr.note?.[0]?.extension?.[0]?.url, EXT_NOTE_KIND);
    assert.equal(sr.bodySite?.[0]?.text, '胸部');
    assert.equal(sr.identifier?.[0]?.system, 'urn:huiying:hospital:CHENCUN:accession');
    assert.equal(sr.identifier?.[1]?.value, 'HIS-778899');
    // back: the output (with the patient contained again) is the same order
    const again = parseServiceRequest({
      ...sr,
      contained: [
        patientResource(exam.patient, { code: 'CHENCUN', name: '陈村医院' }) as unknown as Json,
      ].map((x) => ({ ...x, id: 'p' })),
      subject: { reference: '#p' },
    });
    if (again.subject.kind !== 'contained') assert.fail('contained');
    const input2 = orderInputOf(again, 2, again.subject.patient);
    assert.deepEqual(orderDifferences(input2, exam, 'CHENCUN'), []);
    assert.deepEqual(input2.patient, input.patient);
  });

  test('exam states map to ServiceRequest statuses', () => {
    const p = parseServiceRequest(sampleOrder('CC1'));
    if (p.subject.kind !== 'contained') assert.fail('contained');
    const input = orderInputOf(p, 2, p.subject.patient);
    const expect: Record<ExamStatus, string> = {
      registered: 'active',
      examined: 'active',
      matched: 'active',
      reported: 'completed',
      reviewed: 'completed',
      cancelled: 'revoked',
      returned: 'on-hold',
    };
    for (const [s, want] of Object.entries(expect)) {
      const sr = serviceRequestOf(examOf(input, s as ExamStatus), 'CHENCUN');
      assert.equal(sr.status, want, s);
      const ext = sr.extension?.find((e) => e.url.endsWith('/exam-status'));
      assert.equal(ext?.valueCoding?.code, s);
    }
  });

  test('differences name the changed elements', () => {
    const p = parseServiceRequest(sampleOrder('CC1'));
    if (p.subject.kind !== 'contained') assert.fail('contained');
    const exam = examOf(orderInputOf(p, 2, p.subject.patient));
    const changed = parseServiceRequest({
      ...sampleOrder('CC1'),
      priority: 'routine',
      code: { text: '头颅CT平扫' },
    });
    if (changed.subject.kind !== 'contained') assert.fail('contained');
    assert.deepEqual(orderDifferences(orderInputOf(changed, 2, changed.subject.patient), exam, 'CHENCUN'), [
      'code',
      'priority',
    ]);
  });

  test('validation lists every problem with its element path', () => {
    const bad = sampleOrder('CC1');
    delete bad.subject;
    delete bad.code;
    bad.identifier = [];
    bad.priority = 'soon';
    bad.occurrenceDateTime = '2026-11-26T09:30:00';
    bad.category = [{ coding: [{ system: DCM, code: 'XX' }] }];
    const r = issuesOf(() => parseServiceRequest(bad));
    assert.equal(r.status, 400);
    for (const path of [
      'ServiceRequest.subject',
      'ServiceRequest.code',
      'ServiceRequest.identifier',
      'ServiceRequest.priority',
      'ServiceRequest.occurrenceDateTime',
      'ServiceRequest.category[0].coding[0].code',
    ])
      assert.ok(r.paths.includes(path), `${path} in ${r.paths.join(', ')}`);
    assert.match(r.text, /缺少必填元素 \/ required element is missing/);
  });

  test('other structural errors: type, status, intent, item names, contained reference', () => {
    const r = issuesOf(() =>
      parseServiceRequest({
        ...sampleOrder('CC1'),
        resourceType: 'Patient',
        status: 'waiting',
        intent: undefined,
        subject: { reference: '#nobody' },
        code: { coding: [{ code: 'X1' }, { code: 'X2' }] },
      }),
    );
    for (const path of [
      'ServiceRequest.resourceType',
      'ServiceRequest.status',
      'ServiceRequest.intent',
      'ServiceRequest.subject.reference',
      'ServiceRequest.code.coding[0].display',
    ])
      assert.ok(r.paths.includes(path), `${path} in ${r.paths.join(', ')}`);
    assert.equal(issuesOf(() => parseServiceRequest([])).status, 400);
    const acc = issuesOf(() =>
      parseServiceRequest({
        ...sampleOrder('CC1'),
        identifier: [{ type: { coding: [{ code: 'ACSN' }] }, value: '检查号太长了啊' }],
      }),
    );
    assert.deepEqual(acc.paths, ['ServiceRequest.identifier[0].value']);
  });

  test('alternatives: modality extension, Chinese body site text, encounter class, note extension, subject forms', () => {
    const o = sampleOrder('CC1');
    o.category = undefined;
    o.code = { coding: [{ system: DCM, code: 'MR' }], text: '头颅MR平扫' };
    o.bodySite = [{ text: '颅脑' }];
    o.extension = [];
    o.contained = [
      ...(o.contained as Json[]),
      { resourceType: 'Encounter', id: 'e', class: { system: V3_ACT_CODE, code: 'EMER' } },
    ];
    o.encounter = { reference: '#e' };
    o.note = [
      {
        extension: [{ url: EXT_NOTE_KIND, valueCode: 'symptoms' }],
        text: '头痛',
      },
      { text: '高血压十年' },
    ];
    o.supportingInfo = [{ display: '检查目的：排除脑出血' }];
    const p = parseServiceRequest(o);
    assert.equal(p.modality, 'MR');
    assert.deepEqual(p.examItems, [{ name: '头颅MR平扫' }]);
    assert.equal(p.bodyPart, 'BRAIN');
    assert.equal(p.patientClass, 'emergency');
    assert.equal(p.symptoms, '头痛');
    assert.equal(p.clinicalHistory, '高血压十年');
    assert.equal(p.examPurpose, '排除脑出血');
    const byRef = parseServiceRequest({ ...sampleOrder('CC1'), subject: { reference: 'Patient/12' } });
    assert.deepEqual(byRef.subject, { kind: 'reference', id: 12 });
    const byId = parseServiceRequest({
      ...sampleOrder('CC1'),
      subject: { identifier: { system: 'urn:oid:1.2.156.112604.1.2', value: 'MZ1' } },
    });
    assert.deepEqual(byId.subject, { kind: 'identifier', patientId: 'MZ1', issuer: '1.2.156.112604.1.2' });
  });
});

describe('FHIR Patient mapping', () => {
  test('Chinese names: compound surnames', () => {
    assert.deepEqual(splitChineseName('张三'), { family: '张', given: '三' });
    assert.deepEqual(splitChineseName('欧阳娜娜'), { family: '欧阳', given: '娜娜' });
    assert.deepEqual(splitChineseName('司马光'), { family: '司马', given: '光' });
  });

  test('PN ↔ HumanName both ways', () => {
    const two = namesOfPn('Zhang^San=张^三');
    assert.equal(two.length, 2);
    assert.deepEqual(
      { text: two[0]?.text, family: two[0]?.family, given: two[0]?.given },
      { text: '张三', family: '张', given: ['三'] },
    );
    assert.equal(two[0]?.extension?.[0]?.valueCode, 'IDE');
    assert.deepEqual(
      { text: two[1]?.text, family: two[1]?.family, given: two[1]?.given },
      { text: 'Zhang San', family: 'Zhang', given: ['San'] },
    );
    const plain = namesOfPn('张三');
    assert.deepEqual(
      { text: plain[0]?.text, family: plain[0]?.family, given: plain[0]?.given },
      {
        text: '张三',
        family: '张',
        given: ['三'],
      },
    );
    const pn = (names: Json[]): string | undefined => {
      const ck = new Checker();
      const r = pnOfNames(
        ck,
        names.map((value, i) => ({ value, path: `Patient.name[${i}]` })),
      );
      assert.deepEqual(ck.issues, []);
      return r;
    };
    for (const s of ['Zhang^San=张^三', '张三', 'WANG^XIAOMING', '欧阳娜娜'])
      assert.equal(pn(namesOfPn(s) as unknown as Json[]), s, s);
    assert.equal(pn([{ family: '李', given: ['四'] }]), '李四');
    assert.equal(pn([{ text: 'Li Si' }]), 'Li Si');
    assert.equal(pn([{ family: 'Li', given: ['Si'] }, { text: '李四' }]), 'Li^Si=李四');
  });

  test('identifier system ↔ issuer is bijective', () => {
    for (const [issuer, system] of [
      ['CHENCUN', 'urn:huiying:hospital:CHENCUN:patient-id'],
      ['1.2.156.112604.1.2', 'urn:oid:1.2.156.112604.1.2'],
      ['http://his.example.cn/pid', 'http://his.example.cn/pid'],
      ['门诊号', 'urn:huiying:issuer:%E9%97%A8%E8%AF%8A%E5%8F%B7'],
    ] as const) {
      assert.equal(patientSystemOf(issuer, 'CHENCUN'), system);
      assert.equal(issuerOfSystem(system).issuer, issuer);
    }
    assert.deepEqual(issuerOfSystem(undefined), {});
  });

  test('Patient validation', () => {
    const ck = new Checker();
    patientInputOf(
      ck,
      { resourceType: 'Patient', name: [{ text: '张^三' }], gender: 'man', birthDate: '1960-02-30' },
      'Patient',
    );
    assert.deepEqual(
      ck.issues.map((i) => i.expression),
      ['Patient.identifier', 'Patient.name[0].text', 'Patient.gender', 'Patient.birthDate'],
    );
  });
});
