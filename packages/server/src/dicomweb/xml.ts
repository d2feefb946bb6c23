/** DICOM JSON model → PS3.19 Native DICOM Model XML (application/dicom+xml). */
import { tagKeyword, type DicomJson } from '@huiying/dicom';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;',
  );
}

/* eslint-disable no-control-regex */
function text(s: string): string {
  // XML 1.0 cannot carry most control characters
  return esc(s.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, ''));
}
/* eslint-enable no-control-regex */

const PN_COMPONENTS = ['FamilyName', 'GivenName', 'MiddleName', 'NamePrefix', 'NameSuffix'];

function personNameGroup(name: string, value: string): string {
  const comps = value.split('^');
  const inner = comps
    .map((c, i) =>
      c !== '' && PN_COMPONENTS[i] !== undefined
        ? `<${PN_COMPONENTS[i]}>${text(c)}</${PN_COMPONENTS[i]}>`
        : '',
    )
    .join('');
  return `<${name}>${inner}</${name}>`;
}

function attributes(ds: DicomJson, out: string[]): void {
  for (const tag of Object.keys(ds).sort()) {
    const el = ds[tag]!;
    const numTag = parseInt(tag, 16);
    const kw = Number.isFinite(numTag) ? tagKeyword(numTag) : undefined;
    out.push(
      `<DicomAttribute tag="${esc(tag)}" vr="${esc(el.vr)}"${kw !== undefined ? ` keyword="${esc(kw)}"` : ''}>`,
    );
    if (el.BulkDataURI !== undefined) out.push(`<BulkData uri="${esc(el.BulkDataURI)}"/>`);
    else if (el.InlineBinary !== undefined) out.push(`<InlineBinary>${el.InlineBinary}</InlineBinary>`);
    else if (el.Value !== undefined) {
      el.Value.forEach((v, i) => {
        const n = i + 1;
        if (el.vr === 'SQ') {
          out.push(`<Item number="${n}">`);
          if (v !== null && typeof v === 'object') attributes(v as DicomJson, out);
          out.push('</Item>');
        } else if (el.vr === 'PN') {
          if (v === null || typeof v !== 'object') {
            out.push(`<PersonName number="${n}"/>`);
            return;
          }
          const pn = v as { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
          out.push(`<PersonName number="${n}">`);
          if (pn.Alphabetic) out.push(personNameGroup('Alphabetic', pn.Alphabetic));
          if (pn.Ideographic) out.push(personNameGroup('Ideographic', pn.Ideographic));
          if (pn.Phonetic) out.push(personNameGroup('Phonetic', pn.Phonetic));
          out.push('</PersonName>');
        } else if (v === null || v === undefined) {
          out.push(`<Value number="${n}"/>`);
        } else {
          out.push(
            `<Value number="${n}">${text(typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' ? String(v) : JSON.stringify(v))}</Value>`,
          );
        }
      });
    }
    out.push('</DicomAttribute>');
  }
}

/** One data set as an XML document. */
export function toNativeXml(ds: DicomJson): string {
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">',
  ];
  attributes(ds, out);
  out.push('</NativeDicomModel>\n');
  return out.join('');
}
