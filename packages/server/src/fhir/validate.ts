/**
 * Structural checks of incoming FHIR JSON: typed reads of `unknown` values that record an issue (with the
 * element path) instead of throwing, so one answer lists every problem of a resource.
 */
import { bi, FhirError, type Issue } from './outcome.ts';

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class Checker {
  readonly issues: Issue[] = [];

  fail(path: string, zh: string, en: string, code: Issue['code'] = 'value'): undefined {
    this.issues.push({ code, diagnostics: bi(zh, en), expression: path });
    return undefined;
  }

  required(path: string): undefined {
    return this.fail(path, '缺少必填元素', 'required element is missing', 'required');
  }

  /** An optional string (non-empty, at most `max` characters). */
  string(obj: Json, key: string, path: string, max = 1024): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string')
      return this.fail(`${path}.${key}`, '应为字符串', 'must be a string', 'structure');
    const t = v.trim();
    if (t === '') return this.fail(`${path}.${key}`, '不能为空字符串', 'must not be empty');
    if (t.length > max)
      return this.fail(`${path}.${key}`, `长度不能超过 ${max}`, `longer than ${max} characters`, 'too-long');
    return t;
  }

  boolean(obj: Json, key: string, path: string): boolean | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean')
      return this.fail(`${path}.${key}`, '应为布尔值', 'must be a boolean', 'structure');
    return v;
  }

  object(obj: Json, key: string, path: string): Json | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) return this.fail(`${path}.${key}`, '应为对象', 'must be an object', 'structure');
    return v;
  }

  /** An optional array of objects; each element with its indexed path. */
  array(obj: Json, key: string, path: string): { value: Json; path: string }[] {
    const v = obj[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.fail(`${path}.${key}`, '应为数组', 'must be an array', 'structure');
      return [];
    }
    const out: { value: Json; path: string }[] = [];
    v.forEach((e, i) => {
      if (isObject(e)) out.push({ value: e, path: `${path}.${key}[${i}]` });
      else this.fail(`${path}.${key}[${i}]`, '应为对象', 'must be an object', 'structure');
    });
    return out;
  }

  /** Throw all issues as one 400 answer. */
  throwIfAny(status = 400): void {
    if (this.issues.length > 0) throw new FhirError(status, this.issues);
  }
}

/** FHIR dateTime with a time zone (or a plain date) → ISO 8601 UTC, or undefined when malformed. */
export function parseDateTime(s: string): string | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) {
    const d = new Date(`${s}T00:00:00Z`);
    return Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== s ? undefined : s;
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (m === null) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** FHIR date YYYY-MM-DD ↔ DICOM DA YYYYMMDD */
export function fhirDateToDa(s: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (m === null) return undefined;
  const d = new Date(`${s}T00:00:00Z`);
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== s) return undefined;
  return `${m[1]}${m[2]}${m[3]}`;
}

export function daToFhirDate(s: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(s);
  return m === null ? undefined : `${m[1]}-${m[2]}-${m[3]}`;
}
