/**
 * FHIR errors: every failure of the FHIR endpoint is an OperationOutcome with the right HTTP status.
 * Diagnostics are bilingual (中文 / English) and name the element path in `expression`.
 */
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { HuiyingError, httpStatusOf, messageOf } from '../errors.ts';

export type IssueCode = OperationOutcomeIssue['code'];

export interface Issue {
  code: IssueCode;
  diagnostics: string;
  /** FHIRPath of the element, e.g. `ServiceRequest.subject` */
  expression?: string;
  severity?: 'fatal' | 'error' | 'warning' | 'information';
}

/** `中文 / English` */
export function bi(zh: string, en: string): string {
  return `${zh} / ${en}`;
}

/** A FHIR failure with its HTTP status and issues. */
export class FhirError extends Error {
  readonly status: number;
  readonly issues: Issue[];
  constructor(status: number, issues: Issue[]) {
    super(
      issues.map((i) => (i.expression !== undefined ? `${i.expression}: ` : '') + i.diagnostics).join('; '),
    );
    this.name = 'FhirError';
    this.status = status;
    this.issues = issues;
  }
}

export function fhirError(
  status: number,
  code: IssueCode,
  diagnostics: string,
  expression?: string,
): FhirError {
  return new FhirError(status, [{ code, diagnostics, ...(expression !== undefined ? { expression } : {}) }]);
}

export function operationOutcome(issues: Issue[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({
      severity: i.severity ?? 'error',
      code: i.code,
      diagnostics: i.diagnostics,
      ...(i.expression !== undefined ? { expression: [i.expression] } : {}),
    })),
  };
}

/** the Chinese half of a workflow error's diagnostics (its message is English) */
const ZH_OF_CODE: Record<HuiyingError['code'], string> = {
  'invalid-input': '内容无效',
  'not-found': '找不到',
  conflict: '冲突',
  unauthenticated: '需要认证',
  forbidden: '无权访问',
  unsupported: '不支持',
  unavailable: '服务暂不可用',
  internal: '服务器内部错误',
};

const CODE_OF_STATUS: Record<number, IssueCode> = {
  400: 'invalid',
  401: 'login',
  403: 'forbidden',
  404: 'not-found',
  405: 'not-supported',
  406: 'not-supported',
  409: 'conflict',
  412: 'conflict',
  413: 'too-costly',
  415: 'not-supported',
  422: 'business-rule',
  429: 'throttled',
  503: 'transient',
};

/** Any thrown value → status + issues (HuiyingError from the workflow, Fastify errors, bugs). */
export function toFhirError(err: unknown): FhirError {
  if (err instanceof FhirError) return err;
  if (err instanceof HuiyingError) {
    const s = err.detail?.status;
    const status = typeof s === 'number' && s >= 400 && s < 600 ? s : httpStatusOf(err.code);
    const message = status >= 500 && err.code === 'internal' ? 'internal server error' : err.message;
    return fhirError(status, CODE_OF_STATUS[status] ?? 'processing', bi(ZH_OF_CODE[err.code], message));
  }
  const code = (err as { code?: unknown }).code;
  const sc = (err as { statusCode?: unknown }).statusCode;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return fhirError(413, 'too-costly', bi('请求体过大', 'request body too large'));
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH')
    return fhirError(
      415,
      'not-supported',
      bi(
        '仅支持 application/fhir+json（或 application/json）',
        'only application/fhir+json (or application/json) is accepted',
      ),
    );
  if (typeof sc === 'number' && sc >= 400 && sc < 500)
    return fhirError(sc, CODE_OF_STATUS[sc] ?? 'invalid', messageOf(err));
  return fhirError(500, 'exception', bi('服务器内部错误', 'internal server error'));
}
