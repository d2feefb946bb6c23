/** The server's CapabilityStatement (GET /fhir/metadata): unauthenticated, no PHI. */
import type { CapabilityStatement } from '@medplum/fhirtypes';

export const FHIR_VERSION = '4.0.1';

export function capabilityStatement(
  base: string,
  software: { name: string; version: string },
): CapabilityStatement {
  const common = {
    versioning: 'versioned-update' as const,
    readHistory: false,
    updateCreate: false,
    conditionalCreate: true,
    conditionalUpdate: false,
    conditionalDelete: 'not-supported' as const,
  };
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-26',
    publisher: 'Huiying 汇影',
    kind: 'instance',
    software: { name: software.name, version: software.version },
    implementation: {
      description: '汇影 区域医学影像平台 检查申请接口 / Huiying regional imaging: imaging orders (FHIR R4)',
      url: base,
    },
    fhirVersion: FHIR_VERSION,
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          '每个请求需认证（API 令牌 Bearer、HTTP Basic 服务账号或会话）；成员医院只能读写本院申请单。 / Every request is authenticated (Bearer API token, HTTP Basic service account or session); a member hospital reads and writes only its own orders.',
        security: {
          cors: false,
          service: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
                  code: 'Basic',
                },
              ],
              text: 'Bearer <API token> | Basic',
            },
          ],
        },
        resource: [
          {
            type: 'ServiceRequest',
            ...common,
            documentation:
              '影像检查申请单（一检查号一申请）；status=revoked 取消申请。 / Imaging orders (one accession number each); PUT with status=revoked cancels.',
            interaction: [
              { code: 'read' },
              { code: 'vread' },
              { code: 'create' },
              { code: 'update' },
              { code: 'search-type' },
            ],
            searchInclude: ['ServiceRequest:subject', 'ServiceRequest:patient'],
            searchParam: [
              {
                name: 'identifier',
                type: 'token',
                documentation: 'accession number: <system>|<value> or <value>',
              },
              { name: 'patient', type: 'reference', documentation: 'Patient/<id>' },
              { name: 'subject', type: 'reference', documentation: 'Patient/<id>' },
              {
                name: 'status',
                type: 'token',
                documentation: 'active | completed | revoked | on-hold (comma = or)',
              },
              {
                name: 'category',
                type: 'token',
                documentation: 'modality, e.g. http://dicom.nema.org/resources/ontology/DCM|CT',
              },
              {
                name: 'priority',
                type: 'token',
                documentation: 'routine | stat (stat, asap and urgent are 急诊)',
              },
              { name: 'authored', type: 'date', documentation: 'registration date: ge/le/eq YYYY-MM-DD' },
              { name: '_count', type: 'number' },
              { name: '_offset', type: 'number' },
            ],
          },
          {
            type: 'Patient',
            ...common,
            documentation: '患者（医院 + 签发者 + 患者ID）。 / Patients (hospital + issuer + patient ID).',
            interaction: [{ code: 'read' }, { code: 'create' }, { code: 'update' }, { code: 'search-type' }],
            searchParam: [
              { name: 'identifier', type: 'token', documentation: '<system>|<patient ID> (system → issuer)' },
              { name: '_id', type: 'token' },
            ],
          },
        ],
      },
    ],
  };
}
