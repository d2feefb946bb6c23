/**
 * ArchiveIndex over Kysely, the same code on SQLite and PostgreSQL.
 *
 * indexInstances() runs one transaction per batch (the ingest's group commit) with a fixed, small number
 * of multi-row statements whatever the batch size: load studies (+ their patients), insert missing
 * patients/studies/series (`ON CONFLICT DO NOTHING`, then reload), load existing instances, one multi-row
 * instance insert, then one counter update per touched series/study/patient.
 * On PostgreSQL the batch's study and patient rows are locked (`FOR UPDATE`, id order) so concurrent
 * batches touching the same study serialize and counters, modality lists and conflict flags stay exact;
 * SQLite has a single writer connection.
 */
import { sql, type Kysely, type RawBuilder, type SqlBool, type Transaction } from 'kysely';
import type { InstanceAttributes } from '@huiying/dicom';
import type { DatabaseHandle, DialectName } from '../db/database.ts';
import type { InstancesTable, Schema } from '../db/schema.ts';
import { normalizePersonName } from './index-names.ts';
import {
  fromClause,
  hasRestrictingKey,
  keyDefsAtOrAbove,
  levelAlias,
  orderBy,
  selectList,
  whereConditions,
} from './index-query.ts';
import { KyselyAeRepository, KyselyHospitalRepository } from './index-repositories.ts';
import type {
  ArchiveIndex,
  DuplicatePolicy,
  IndexInstance,
  IndexQuery,
  IndexResult,
  IndexRow,
  InstanceLocation,
} from './ports.ts';

type Trx = Transaction<Schema>;
type InstanceRow = Omit<InstancesTable, 'id'>;

interface PatientIdentity {
  patientId: string;
  issuer: string;
  name: string | null;
  nameA: string | null;
  nameI: string | null;
  nameP: string | null;
  birthDate: string | null;
}

interface StudyState {
  id: number;
  hospitalId: number;
  patientFk: number;
  modalities: string;
  sopClasses: string;
  conflict: boolean;
  patient: PatientIdentity;
  newConflictDetail?: string;
}

const SEP = '\u0000';
const CHUNK = 500;

function s(v: string | undefined): string | null {
  return v === undefined || v === '' ? null : v;
}

function int(v: string | undefined): number | null {
  if (v === undefined) return null;
  const t = v.trim();
  if (!/^[+-]?\d+$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) && Math.abs(n) <= 2147483647 ? n : null;
}

function chunks<T>(items: T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function uniq<T>(items: T[]): T[] {
  return [...new Set(items)];
}

function splitList(v: string): string[] {
  return v === '' ? [] : v.split('\\');
}

function mergeList(current: string, add: Iterable<string>): string {
  const set = new Set(splitList(current));
  for (const a of add) if (a !== '') set.add(a);
  return [...set].sort().join('\\');
}

/** Differences between an instance's patient identity and the patient its study is linked to. */
export function identityConflict(p: PatientIdentity, a: InstanceAttributes): string | undefined {
  const diffs: string[] = [];
  const pid = a.PatientID ?? '';
  if (pid !== p.patientId) diffs.push(`PatientID '${pid}' vs '${p.patientId}'`);
  const issuer = a.IssuerOfPatientID ?? '';
  if (issuer !== p.issuer) diffs.push(`IssuerOfPatientID '${issuer}' vs '${p.issuer}'`);
  const n = normalizePersonName(a.PatientName);
  const differs = (x: string | undefined, y: string | null): boolean =>
    x !== undefined && y !== null && x !== y;
  if (differs(n.alphabetic, p.nameA) || differs(n.ideographic, p.nameI) || differs(n.phonetic, p.nameP)) {
    diffs.push(`PatientName '${a.PatientName ?? ''}' vs '${p.name ?? ''}'`);
  }
  const bd = a.PatientBirthDate ?? '';
  if (bd !== '' && p.birthDate !== null && bd !== p.birthDate) {
    diffs.push(`PatientBirthDate '${bd}' vs '${p.birthDate}'`);
  }
  if (diffs.length === 0) return undefined;
  return `instance ${a.SOPInstanceUID} disagrees with the study's patient: ${diffs.join(', ')}`;
}

function patientKeyOf(hospitalId: number, a: InstanceAttributes): string {
  const pid = a.PatientID ?? '';
  return [hospitalId, pid, a.IssuerOfPatientID ?? '', pid === '' ? a.StudyInstanceUID : ''].join(SEP);
}

function instanceRow(inst: IndexInstance, studyFk: number, seriesFk: number): InstanceRow {
  const a = inst.attributes;
  return {
    hospital_id: inst.hospitalId,
    study_fk: studyFk,
    series_fk: seriesFk,
    sop_instance_uid: a.SOPInstanceUID,
    sop_class_uid: a.SOPClassUID,
    instance_number: int(a.InstanceNumber),
    content_date: s(a.ContentDate),
    content_time: s(a.ContentTime),
    acquisition_date: s(a.AcquisitionDate),
    number_of_frames: int(a.NumberOfFrames),
    pixel_rows: int(a.Rows),
    pixel_columns: int(a.Columns),
    bits_allocated: int(a.BitsAllocated),
    blob_key: inst.blobKey,
    size: inst.size,
    sha256: inst.sha256,
    transfer_syntax_uid: inst.transferSyntaxUid,
    received_from_ae: inst.receivedFromAe ?? null,
    source: inst.source,
    received_at: inst.receivedAt,
    charset: s(a.SpecificCharacterSet),
  };
}

class Deltas {
  readonly map = new Map<number, number[]>();
  readonly #width: number;
  constructor(width: number) {
    this.#width = width;
  }
  add(id: number, idx: number, d: number): void {
    let v = this.map.get(id);
    if (v === undefined) {
      v = new Array<number>(this.#width).fill(0);
      this.map.set(id, v);
    }
    v[idx]! += d;
  }
  /** ids grouped by identical delta vectors (one UPDATE each) */
  groups(): { delta: number[]; ids: number[] }[] {
    const g = new Map<string, { delta: number[]; ids: number[] }>();
    for (const [id, delta] of this.map) {
      if (delta.every((x) => x === 0)) continue;
      const k = delta.join(',');
      const e = g.get(k) ?? { delta, ids: [] };
      e.ids.push(id);
      g.set(k, e);
    }
    return [...g.values()];
  }
}

/** Study columns filled from a later instance when the first ones left them empty. */
const STUDY_FILL = [
  ['study_date', 'StudyDate'],
  ['study_time', 'StudyTime'],
  ['accession_number', 'AccessionNumber'],
  ['accession_issuer', 'IssuerOfAccessionNumber'],
  ['study_id', 'StudyID'],
  ['description', 'StudyDescription'],
  ['institution_name', 'InstitutionName'],
  ['patient_age', 'PatientAge'],
  ['patient_size', 'PatientSize'],
  ['patient_weight', 'PatientWeight'],
] as const satisfies ReadonlyArray<readonly [string, keyof InstanceAttributes]>;
type StudyFillColumn = (typeof STUDY_FILL)[number][0];

export class KyselyArchiveIndex implements ArchiveIndex {
  readonly #db: Kysely<Schema>;
  readonly #dialect: DialectName;

  constructor(handle: { db: Kysely<Schema>; dialect: DialectName }) {
    this.#db = handle.db;
    this.#dialect = handle.dialect;
  }

  async indexInstances(batch: IndexInstance[], policy: DuplicatePolicy): Promise<IndexResult[]> {
    if (batch.length === 0) return [];
    return this.#db.transaction().execute((trx) => this.#indexBatch(trx, batch, policy));
  }

  async #loadStudies(trx: Trx, keys: string[], into: Map<string, StudyState>): Promise<void> {
    const pg = this.#dialect === 'postgres';
    const pairs = keys.map((k) => k.split(SEP) as [string, string]);
    for (const part of chunks(pairs)) {
      const rows = await trx
        .selectFrom('studies as st')
        .innerJoin('patients as p', 'p.id', 'st.patient_fk')
        .select([
          'st.id',
          'st.hospital_id',
          'st.study_instance_uid',
          'st.patient_fk',
          'st.modalities',
          'st.sop_classes',
          'st.patient_conflict',
          'p.patient_id',
          'p.issuer',
          'p.patient_name',
          'p.name_a',
          'p.name_i',
          'p.name_p',
          'p.birth_date',
        ])
        .where('st.study_instance_uid', 'in', uniq(part.map((p) => p[1])))
        .where('st.hospital_id', 'in', uniq(part.map((p) => Number(p[0]))))
        .orderBy('st.id')
        .$if(pg, (q) => q.forUpdate())
        .execute();
      const wanted = new Set(keys);
      for (const r of rows) {
        const key = `${r.hospital_id}${SEP}${r.study_instance_uid}`;
        if (!wanted.has(key)) continue;
        into.set(key, {
          id: Number(r.id),
          hospitalId: Number(r.hospital_id),
          patientFk: Number(r.patient_fk),
          modalities: r.modalities,
          sopClasses: r.sop_classes,
          conflict: Number(r.patient_conflict) === 1,
          patient: {
            patientId: r.patient_id,
            issuer: r.issuer,
            name: r.patient_name,
            nameA: r.name_a,
            nameI: r.name_i,
            nameP: r.name_p,
            birthDate: r.birth_date,
          },
        });
      }
    }
  }

  async #loadPatientIds(trx: Trx, keys: string[], into: Map<string, number>): Promise<void> {
    const pg = this.#dialect === 'postgres';
    const parts = keys.map((k) => k.split(SEP));
    const wanted = new Set(keys);
    for (const part of chunks(parts)) {
      const rows = await trx
        .selectFrom('patients')
        .select(['id', 'hospital_id', 'patient_id', 'issuer', 'anon_key'])
        .where('patient_id', 'in', uniq(part.map((p) => p[1]!)))
        .where('hospital_id', 'in', uniq(part.map((p) => Number(p[0]))))
        .orderBy('id')
        .$if(pg, (q) => q.forUpdate())
        .execute();
      for (const r of rows) {
        const key = [r.hospital_id, r.patient_id, r.issuer, r.anon_key].join(SEP);
        if (wanted.has(key)) into.set(key, Number(r.id));
      }
    }
  }

  async #loadSeries(trx: Trx, keys: string[], into: Map<string, number>): Promise<void> {
    const parts = keys.map((k) => k.split(SEP));
    const wanted = new Set(keys);
    for (const part of chunks(parts)) {
      const rows = await trx
        .selectFrom('series')
        .select(['id', 'study_fk', 'series_instance_uid'])
        .where('series_instance_uid', 'in', uniq(part.map((p) => p[1]!)))
        .where('study_fk', 'in', uniq(part.map((p) => Number(p[0]))))
        .execute();
      for (const r of rows) {
        const key = `${r.study_fk}${SEP}${r.series_instance_uid}`;
        if (wanted.has(key)) into.set(key, Number(r.id));
      }
    }
  }

  async #indexBatch(trx: Trx, batch: IndexInstance[], policy: DuplicatePolicy): Promise<IndexResult[]> {
    const now = new Date().toISOString();
    const studyKeyOf = (inst: IndexInstance): string =>
      `${inst.hospitalId}${SEP}${inst.attributes.StudyInstanceUID}`;

    // 1. studies (existing, locked on PG), then patients and studies to create
    const studies = new Map<string, StudyState>();
    const studyKeys = uniq(batch.map(studyKeyOf)).sort();
    await this.#loadStudies(trx, studyKeys, studies);
    const newStudyFirst = new Map<string, IndexInstance>();
    for (const inst of batch) {
      const k = studyKeyOf(inst);
      if (!studies.has(k) && !newStudyFirst.has(k)) newStudyFirst.set(k, inst);
    }
    const newStudyIds = new Set<number>();
    if (newStudyFirst.size > 0) {
      const patientFirst = new Map<string, IndexInstance>();
      for (const inst of newStudyFirst.values()) {
        const pk = patientKeyOf(inst.hospitalId, inst.attributes);
        if (!patientFirst.has(pk)) patientFirst.set(pk, inst);
      }
      const patientKeys = [...patientFirst.keys()].sort();
      const patients = new Map<string, number>();
      await this.#loadPatientIds(trx, patientKeys, patients);
      const missingPatients = patientKeys.filter((k) => !patients.has(k));
      for (const part of chunks(missingPatients, 200)) {
        await trx
          .insertInto('patients')
          .values(
            part.map((k) => {
              const inst = patientFirst.get(k)!;
              const a = inst.attributes;
              const n = normalizePersonName(a.PatientName);
              const anon = k.split(SEP)[3]!;
              return {
                hospital_id: inst.hospitalId,
                patient_id: a.PatientID ?? '',
                issuer: a.IssuerOfPatientID ?? '',
                anon_key: anon,
                patient_name: s(a.PatientName),
                name_a: n.alphabetic ?? null,
                name_i: n.ideographic ?? null,
                name_p: n.phonetic ?? null,
                name_fz: n.fuzzy ?? null,
                birth_date: s(a.PatientBirthDate),
                birth_time: s(a.PatientBirthTime),
                sex: s(a.PatientSex),
                other_ids: s(a.OtherPatientIDs),
                num_studies: 0,
                num_series: 0,
                num_instances: 0,
                created_at: now,
                updated_at: now,
              };
            }),
          )
          .onConflict((oc) => oc.columns(['patient_id', 'issuer', 'hospital_id', 'anon_key']).doNothing())
          .execute();
      }
      if (missingPatients.length > 0) await this.#loadPatientIds(trx, missingPatients, patients);

      const newStudyKeys = [...newStudyFirst.keys()].sort();
      for (const part of chunks(newStudyKeys, 200)) {
        const inserted = await trx
          .insertInto('studies')
          .values(
            part.map((k) => {
              const inst = newStudyFirst.get(k)!;
              const a = inst.attributes;
              const rp = normalizePersonName(a.ReferringPhysicianName);
              return {
                hospital_id: inst.hospitalId,
                patient_fk: patients.get(patientKeyOf(inst.hospitalId, a))!,
                study_instance_uid: a.StudyInstanceUID,
                study_date: s(a.StudyDate),
                study_time: s(a.StudyTime),
                accession_number: s(a.AccessionNumber),
                accession_issuer: s(a.IssuerOfAccessionNumber),
                study_id: s(a.StudyID),
                description: s(a.StudyDescription),
                ref_phys_name: s(a.ReferringPhysicianName),
                ref_phys_a: rp.alphabetic ?? null,
                ref_phys_i: rp.ideographic ?? null,
                ref_phys_p: rp.phonetic ?? null,
                ref_phys_fz: rp.fuzzy ?? null,
                institution_name: s(a.InstitutionName),
                patient_age: s(a.PatientAge),
                patient_size: s(a.PatientSize),
                patient_weight: s(a.PatientWeight),
                modalities: '',
                sop_classes: '',
                num_series: 0,
                num_instances: 0,
                patient_conflict: 0,
                conflict_detail: null,
                created_at: now,
                updated_at: now,
              };
            }),
          )
          .onConflict((oc) => oc.columns(['study_instance_uid', 'hospital_id']).doNothing())
          .returning('id')
          .execute();
        for (const r of inserted) newStudyIds.add(Number(r.id));
      }
      await this.#loadStudies(trx, newStudyKeys, studies);
    }

    // 2. patient identity check against the study's patient
    const results: IndexResult[] = [];
    const conflicts: (string | undefined)[] = [];
    for (const inst of batch) {
      const st = studies.get(studyKeyOf(inst))!;
      const c = identityConflict(st.patient, inst.attributes);
      conflicts.push(c);
      if (c !== undefined && !st.conflict && st.newConflictDetail === undefined) st.newConflictDetail = c;
    }

    // 3. series
    const seriesKeyOf = (inst: IndexInstance): string =>
      `${studies.get(studyKeyOf(inst))!.id}${SEP}${inst.attributes.SeriesInstanceUID}`;
    const seriesIds = new Map<string, number>();
    const seriesKeys = uniq(batch.map(seriesKeyOf)).sort();
    await this.#loadSeries(trx, seriesKeys, seriesIds);
    const missingSeries = seriesKeys.filter((k) => !seriesIds.has(k));
    const newSeriesIds = new Set<number>();
    if (missingSeries.length > 0) {
      const first = new Map<string, IndexInstance>();
      for (const inst of batch) {
        const k = seriesKeyOf(inst);
        if (!seriesIds.has(k) && !first.has(k)) first.set(k, inst);
      }
      for (const part of chunks(missingSeries, 200)) {
        const inserted = await trx
          .insertInto('series')
          .values(
            part.map((k) => {
              const inst = first.get(k)!;
              const a = inst.attributes;
              return {
                hospital_id: inst.hospitalId,
                study_fk: Number(k.split(SEP)[0]),
                series_instance_uid: a.SeriesInstanceUID,
                modality: s(a.Modality),
                series_number: int(a.SeriesNumber),
                description: s(a.SeriesDescription),
                series_date: s(a.SeriesDate),
                series_time: s(a.SeriesTime),
                body_part: s(a.BodyPartExamined),
                station_name: s(a.StationName),
                manufacturer: s(a.Manufacturer),
                institution_name: s(a.InstitutionName),
                pps_start_date: s(a.PerformedProcedureStepStartDate),
                pps_start_time: s(a.PerformedProcedureStepStartTime),
                num_instances: 0,
                created_at: now,
                updated_at: now,
              };
            }),
          )
          .onConflict((oc) => oc.columns(['study_fk', 'series_instance_uid']).doNothing())
          .returning('id')
          .execute();
        for (const r of inserted) newSeriesIds.add(Number(r.id));
      }
      await this.#loadSeries(trx, missingSeries, seriesIds);
    }

    // 4. instances: existing ones, then one multi-row insert of the new ones
    type Existing = { id: number; blobKey: string; seriesFk: number; studyFk: number };
    const existing = new Map<string, Existing>();
    const sopKeys = batch.map((inst) => `${inst.hospitalId}${SEP}${inst.attributes.SOPInstanceUID}`);
    await this.#loadInstances(trx, uniq(sopKeys), existing);

    const newRows: InstanceRow[] = [];
    const pendingNew = new Map<string, number>(); // sop key → index in newRows
    const replaceOps: { id: number; row: InstanceRow; old: Existing }[] = [];
    const resultRow: (number | undefined)[] = []; // result index → newRows index whose id it takes
    batch.forEach((inst, idx) => {
      const key = sopKeys[idx]!;
      const study = studies.get(studyKeyOf(inst))!;
      const row = instanceRow(inst, study.id, seriesIds.get(seriesKeyOf(inst))!);
      const conflict = conflicts[idx];
      const base = conflict === undefined ? {} : { patientConflict: conflict };
      const ex = existing.get(key);
      const pend = pendingNew.get(key);
      if (ex === undefined && pend === undefined) {
        pendingNew.set(key, newRows.length);
        resultRow.push(newRows.length);
        newRows.push(row);
        results.push({ outcome: 'stored', instanceId: 0, ...base });
      } else if (policy === 'keep') {
        resultRow.push(pend);
        results.push({ outcome: 'duplicate-kept', instanceId: ex?.id ?? 0, ...base });
      } else if (ex !== undefined) {
        replaceOps.push({ id: ex.id, row, old: { ...ex } });
        const orphan = ex.blobKey !== row.blob_key ? ex.blobKey : undefined;
        existing.set(key, {
          id: ex.id,
          blobKey: row.blob_key,
          seriesFk: row.series_fk,
          studyFk: row.study_fk,
        });
        resultRow.push(undefined);
        results.push({
          outcome: 'replaced',
          instanceId: ex.id,
          ...base,
          ...(orphan !== undefined ? { orphanedBlobKey: orphan } : {}),
        });
      } else {
        const prev = newRows[pend!]!;
        const orphan = prev.blob_key !== row.blob_key ? prev.blob_key : undefined;
        newRows[pend!] = row;
        resultRow.push(pend);
        results.push({
          outcome: 'replaced',
          instanceId: 0,
          ...base,
          ...(orphan !== undefined ? { orphanedBlobKey: orphan } : {}),
        });
      }
    });

    const insertedIds = new Map<number, number>(); // newRows index → id
    const lostRace: number[] = [];
    for (let off = 0; off < newRows.length; off += CHUNK) {
      const part = newRows.slice(off, off + CHUNK);
      const inserted = await trx
        .insertInto('instances')
        .values(part)
        .onConflict((oc) => oc.columns(['sop_instance_uid', 'hospital_id']).doNothing())
        .returning(['id', 'hospital_id', 'sop_instance_uid'])
        .execute();
      const byKey = new Map(
        inserted.map((r) => [`${r.hospital_id}${SEP}${r.sop_instance_uid}`, Number(r.id)]),
      );
      part.forEach((row, j) => {
        const id = byKey.get(`${row.hospital_id}${SEP}${row.sop_instance_uid}`);
        if (id === undefined) lostRace.push(off + j);
        else insertedIds.set(off + j, id);
      });
    }
    if (lostRace.length > 0) {
      // another writer inserted the same SOP Instance UID meanwhile (PostgreSQL): apply the duplicate policy
      const keys = lostRace.map((j) => `${newRows[j]!.hospital_id}${SEP}${newRows[j]!.sop_instance_uid}`);
      await this.#loadInstances(trx, keys, existing);
      for (const j of lostRace) {
        const row = newRows[j]!;
        const ex = existing.get(`${row.hospital_id}${SEP}${row.sop_instance_uid}`);
        if (ex === undefined) throw new Error(`instance ${row.sop_instance_uid} vanished during indexing`);
        insertedIds.set(j, ex.id);
        results.forEach((r, idx) => {
          if (resultRow[idx] !== j) return;
          if (policy === 'keep') r.outcome = 'duplicate-kept';
          else {
            r.outcome = 'replaced';
            if (ex.blobKey !== row.blob_key) r.orphanedBlobKey = ex.blobKey;
          }
        });
        if (policy === 'replace') replaceOps.push({ id: ex.id, row, old: ex });
      }
    }
    results.forEach((r, idx) => {
      const j = resultRow[idx];
      if (j !== undefined) r.instanceId = insertedIds.get(j)!;
    });

    for (const op of replaceOps) {
      const { hospital_id: _h, sop_instance_uid: _s, ...set } = op.row;
      await trx.updateTable('instances').set(set).where('id', '=', op.id).execute();
    }

    // 5. counters, modality / SOP class lists, conflict flags
    const seriesD = new Deltas(1);
    const studyD = new Deltas(2); // [series, instances]
    const patientD = new Deltas(3); // [studies, series, instances]
    const studyById = new Map<number, StudyState>();
    for (const st of studies.values()) studyById.set(st.id, st);
    for (const id of newStudyIds) {
      const st = studyById.get(id);
      if (st !== undefined) patientD.add(st.patientFk, 0, 1);
    }
    const seriesStudy = new Map<number, number>();
    for (const [k, id] of seriesIds) seriesStudy.set(id, Number(k.split(SEP)[0]));
    for (const id of newSeriesIds) {
      const stId = seriesStudy.get(id);
      const st = stId === undefined ? undefined : studyById.get(stId);
      if (st === undefined) continue;
      studyD.add(st.id, 0, 1);
      patientD.add(st.patientFk, 1, 1);
    }
    const lost = new Set(lostRace);
    newRows.forEach((row, j) => {
      if (lost.has(j)) return;
      seriesD.add(row.series_fk, 0, 1);
      studyD.add(row.study_fk, 1, 1);
      patientD.add(studyById.get(row.study_fk)!.patientFk, 2, 1);
    });
    for (const op of [...replaceOps]) {
      if (op.old.seriesFk === op.row.series_fk) continue;
      seriesD.add(op.old.seriesFk, 0, -1);
      seriesD.add(op.row.series_fk, 0, 1);
      if (op.old.studyFk !== op.row.study_fk) {
        const oldStudy = await trx
          .selectFrom('studies')
          .select('patient_fk')
          .where('id', '=', op.old.studyFk)
          .executeTakeFirst();
        studyD.add(op.old.studyFk, 1, -1);
        studyD.add(op.row.study_fk, 1, 1);
        if (oldStudy !== undefined) patientD.add(Number(oldStudy.patient_fk), 2, -1);
        patientD.add(studyById.get(op.row.study_fk)!.patientFk, 2, 1);
      }
    }
    for (const g of seriesD.groups()) {
      await trx
        .updateTable('series')
        .set((eb) => ({ num_instances: eb('num_instances', '+', g.delta[0]!), updated_at: now }))
        .where('id', 'in', g.ids)
        .execute();
    }
    for (const g of patientD.groups()) {
      await trx
        .updateTable('patients')
        .set((eb) => ({
          num_studies: eb('num_studies', '+', g.delta[0]!),
          num_series: eb('num_series', '+', g.delta[1]!),
          num_instances: eb('num_instances', '+', g.delta[2]!),
          updated_at: now,
        }))
        .where('id', 'in', g.ids)
        .execute();
    }
    // studies: one update per touched study (deltas + lists + conflict)
    const touched = new Map<
      number,
      { mods: Set<string>; classes: Set<string>; fill: Partial<Record<StudyFillColumn, string>> }
    >();
    const addTouch = (studyId: number, inst: IndexInstance): void => {
      const t = touched.get(studyId) ?? { mods: new Set(), classes: new Set(), fill: {} };
      // study attributes never depend on arrival order: a later instance fills what earlier ones lacked
      for (const [col, kw] of STUDY_FILL) {
        const v = inst.attributes[kw];
        if (t.fill[col] === undefined && v !== undefined && v !== '') t.fill[col] = v;
      }
      if (inst.attributes.Modality !== undefined && inst.attributes.Modality !== '')
        t.mods.add(inst.attributes.Modality);
      t.classes.add(inst.attributes.SOPClassUID);
      touched.set(studyId, t);
    };
    batch.forEach((inst, idx) => {
      if (results[idx]!.outcome !== 'duplicate-kept') addTouch(studies.get(studyKeyOf(inst))!.id, inst);
    });
    for (const st of studies.values()) {
      const delta = studyD.map.get(st.id) ?? [0, 0];
      const t = touched.get(st.id);
      const mods = t === undefined ? st.modalities : mergeList(st.modalities, t.mods);
      const classes = t === undefined ? st.sopClasses : mergeList(st.sopClasses, t.classes);
      const conflict = st.newConflictDetail;
      if (
        Object.keys(t?.fill ?? {}).length === 0 &&
        delta[0] === 0 &&
        delta[1] === 0 &&
        mods === st.modalities &&
        classes === st.sopClasses &&
        conflict === undefined
      ) {
        continue;
      }
      await trx
        .updateTable('studies')
        .set((eb) => ({
          num_series: eb('num_series', '+', delta[0]!),
          num_instances: eb('num_instances', '+', delta[1]!),
          modalities: mods,
          sop_classes: classes,
          updated_at: now,
          ...Object.fromEntries(
            Object.entries(t?.fill ?? {}).map(([col, v]) => [
              col,
              eb.fn.coalesce(eb.ref(col as StudyFillColumn), eb.val(v)),
            ]),
          ),
          ...(conflict !== undefined ? { patient_conflict: 1, conflict_detail: conflict } : {}),
        }))
        .where('id', '=', st.id)
        .execute();
    }
    return results;
  }

  async #loadInstances(
    trx: Trx,
    keys: string[],
    into: Map<string, { id: number; blobKey: string; seriesFk: number; studyFk: number }>,
  ): Promise<void> {
    const parts = keys.map((k) => k.split(SEP));
    const wanted = new Set(keys);
    for (const part of chunks(parts)) {
      const rows = await trx
        .selectFrom('instances')
        .select(['id', 'hospital_id', 'sop_instance_uid', 'blob_key', 'series_fk', 'study_fk'])
        .where('sop_instance_uid', 'in', uniq(part.map((p) => p[1]!)))
        .where('hospital_id', 'in', uniq(part.map((p) => Number(p[0]))))
        .execute();
      for (const r of rows) {
        const key = `${r.hospital_id}${SEP}${r.sop_instance_uid}`;
        if (wanted.has(key)) {
          into.set(key, {
            id: Number(r.id),
            blobKey: r.blob_key,
            seriesFk: Number(r.series_fk),
            studyFk: Number(r.study_fk),
          });
        }
      }
    }
  }

  async findInstance(hospitalId: number, sopInstanceUid: string): Promise<InstanceLocation | undefined> {
    const rows = await sql<LocationRow>`select ${locationColumns} from ${fromClause('IMAGE')}
      where i.sop_instance_uid = ${sopInstanceUid} and i.hospital_id = ${hospitalId}`.execute(this.#db);
    const r = rows.rows[0];
    return r === undefined ? undefined : toLocation(r);
  }

  /** The SQL of a query (for EXPLAIN and debugging). Undefined when the scope is empty. */
  buildQuery(q: IndexQuery): RawBuilder<Record<string, unknown>> | undefined {
    const scope = scopeCondition(q.level, q.scope);
    if (scope === false) return undefined;
    const conds = whereConditions(q.level, q.keys, q.fuzzy === true);
    if (scope !== true) conds.push(scope);
    const where = conds.length > 0 ? sql`where ${sql.join(conds, sql` and `)}` : sql``;
    return sql<Record<string, unknown>>`select ${selectList(q.level)} from ${fromClause(q.level)} ${where}
      order by ${orderBy(q.level)} ${this.#limit(q.limit, q.offset)}`;
  }

  #limit(limit: number | undefined, offset: number | undefined): RawBuilder<unknown> {
    const l = limit !== undefined && Number.isFinite(limit) && limit >= 0 ? Math.floor(limit) : undefined;
    const o = offset !== undefined && Number.isFinite(offset) && offset > 0 ? Math.floor(offset) : undefined;
    if (l === undefined && o === undefined) return sql``;
    const lim =
      l !== undefined ? sql`limit ${sql.lit(l)}` : this.#dialect === 'sqlite' ? sql`limit -1` : sql``;
    return o === undefined ? lim : sql`${lim} offset ${sql.lit(o)}`;
  }

  async query(q: IndexQuery): Promise<IndexRow[]> {
    const built = this.buildQuery(q);
    if (built === undefined) return [];
    const { rows } = await built.execute(this.#db);
    const defs = keyDefsAtOrAbove(q.level);
    return rows.map((r) => {
      const values: Record<string, string | number | undefined> = {};
      for (const def of defs) {
        const v = r[def.keyword];
        if (v === null || v === undefined || v === '') values[def.keyword] = undefined;
        else if (def.kind === 'count') values[def.keyword] = Number(v);
        else
          values[def.keyword] =
            typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
      }
      const row: IndexRow = { hospitalId: Number(r._hospital_id), values };
      if (Number(r._patient_conflict) === 1)
        row.patientConflict =
          typeof r._conflict_detail === 'string' ? r._conflict_detail : 'patient conflict';
      return row;
    });
  }

  /** EXPLAIN (QUERY PLAN) of a query, one string per plan line. */
  async explain(q: IndexQuery): Promise<string[]> {
    const built = this.buildQuery(q);
    if (built === undefined) return [];
    if (this.#dialect === 'sqlite') {
      const { rows } = await sql<{ detail: string }>`explain query plan ${built}`.execute(this.#db);
      return rows.map((r) => r.detail);
    }
    const { rows } = await sql<{ 'QUERY PLAN': string }>`explain ${built}`.execute(this.#db);
    return rows.map((r) => r['QUERY PLAN']);
  }

  async locate(q: IndexQuery): Promise<InstanceLocation[]> {
    if (!hasRestrictingKey(q.keys)) throw new Error('retrieve identifier has no matching key');
    const scope = scopeCondition('IMAGE', q.scope);
    if (scope === false) return [];
    const conds = whereConditions('IMAGE', q.keys, q.fuzzy === true);
    if (scope !== true) conds.push(scope);
    const { rows } = await sql<LocationRow>`select ${locationColumns} from ${fromClause('IMAGE')}
      where ${sql.join(conds, sql` and `)}
      order by st.id, ${orderBy('IMAGE')} ${this.#limit(q.limit, q.offset)}`.execute(this.#db);
    return rows.map(toLocation);
  }
}

interface LocationRow {
  id: number | string;
  hospital_id: number | string;
  study_instance_uid: string;
  series_instance_uid: string;
  sop_instance_uid: string;
  sop_class_uid: string;
  transfer_syntax_uid: string;
  blob_key: string;
  size: number | string;
}

const locationColumns = sql`i.id, i.hospital_id, st.study_instance_uid, se.series_instance_uid, i.sop_instance_uid,
  i.sop_class_uid, i.transfer_syntax_uid, i.blob_key, i.size`;

function toLocation(r: LocationRow): InstanceLocation {
  return {
    instanceId: Number(r.id),
    hospitalId: Number(r.hospital_id),
    studyInstanceUid: r.study_instance_uid,
    seriesInstanceUid: r.series_instance_uid,
    sopInstanceUid: r.sop_instance_uid,
    sopClassUid: r.sop_class_uid,
    transferSyntaxUid: r.transfer_syntax_uid,
    blobKey: r.blob_key,
    size: Number(r.size),
  };
}

/** true: no restriction; false: nothing visible; else the condition on the level's hospital_id. */
function scopeCondition(
  level: IndexQuery['level'],
  scope: IndexQuery['scope'],
): RawBuilder<SqlBool> | boolean {
  if (scope.kind === 'all') return true;
  const ids = uniq(scope.hospitalIds.filter((id) => Number.isSafeInteger(id)));
  if (ids.length === 0) return false;
  return sql<SqlBool>`${sql.ref(`${levelAlias(level)}.hospital_id`)} in (${sql.join(ids)})`;
}

export interface IndexServices {
  index: KyselyArchiveIndex;
  hospitals: KyselyHospitalRepository;
  aes: KyselyAeRepository;
}

/** The index and repositories over an open database. */
export function createIndexServices(handle: DatabaseHandle): IndexServices {
  return {
    index: new KyselyArchiveIndex(handle),
    hospitals: new KyselyHospitalRepository(handle.db),
    aes: new KyselyAeRepository(handle.db),
  };
}
