/**
 * 版本历史: every version of the report (draft, preliminary, final, addenda, corrections) with author,
 * reviewer, signer, time, review opinion or correction reason and the signature check; the difference of
 * a version against the previous one (insertions green, deletions red and struck through, characters
 * inside changed lines), or between any two versions chosen in the compare bar.
 */
import { useCallback, useEffect, useState } from 'react';
import { Alert, Button, Empty, Select, Space, Table, Tag, Tooltip, Typography } from 'antd';
import { CheckCircleTwoTone, CloseCircleTwoTone, SwapOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { formatTime } from '../ris.ts';
import {
  localMessage,
  reportApi,
  type DiffPart,
  type RevisionStats,
  type VersionDiff,
  type VersionKind,
  type VersionWithDiff,
} from './api.ts';

export const KIND_COLOR: Record<VersionKind, string> = {
  draft: 'default',
  preliminary: 'purple',
  final: 'success',
  addendum: 'blue',
  correction: 'orange',
};

export function KindTag({ kind }: { kind: VersionKind }) {
  const { t } = useTranslation();
  return (
    <Tag color={KIND_COLOR[kind]} data-kind={kind}>
      {t(`rp.kind.${kind}`)}
    </Tag>
  );
}

/** One text's difference: insertions green, deletions red and struck through. */
export function DiffText({ parts }: { parts: DiffPart[] }) {
  if (parts.length === 0) return <span className="hy-diff-empty">—</span>;
  return (
    <span className="hy-diff">
      {parts.map((p, i) =>
        p.op === 'equal' ? (
          <span key={i}>{p.text}</span>
        ) : p.op === 'insert' ? (
          <ins key={i} className="hy-diff-ins" data-testid="diff-insert">
            {p.text}
          </ins>
        ) : (
          <del key={i} className="hy-diff-del" data-testid="diff-delete">
            {p.text}
          </del>
        ),
      )}
    </span>
  );
}

const changed = (parts: DiffPart[]): boolean => parts.some((p) => p.op !== 'equal');

export function DiffBlock({ diff, addendum }: { diff: VersionDiff; addendum?: string | null }) {
  const { t } = useTranslation();
  const rows: [string, DiffPart[]][] = [
    [t('rp.findings'), diff.findings],
    [t('rp.impression'), diff.impression],
    [t('rp.recommendation'), diff.recommendation],
  ];
  const any = rows.some(([, p]) => changed(p));
  return (
    <div className="hy-diff-block" data-testid="version-diff">
      {rows.map(([label, parts]) =>
        parts.length === 0 ? null : (
          <div key={label} className="hy-diff-row">
            <div className="hy-diff-label">
              {label}
              {changed(parts) && (
                <Tag color="gold" style={{ marginLeft: 6 }}>
                  {t('rp.history.changed')}
                </Tag>
              )}
            </div>
            <DiffText parts={parts} />
          </div>
        ),
      )}
      {addendum != null && addendum !== '' && (
        <div className="hy-diff-row">
          <div className="hy-diff-label">{t('rp.kind.addendum')}</div>
          <ins className="hy-diff-ins" data-testid="diff-insert">
            {addendum}
          </ins>
        </div>
      )}
      {!any && (addendum == null || addendum === '') && (
        <Typography.Text type="secondary">{t('rp.history.noTextChange')}</Typography.Text>
      )}
    </div>
  );
}

export function VersionHistory({ examId, refreshKey }: { examId: number; refreshKey: string | number }) {
  const { t, i18n } = useTranslation();
  const [versions, setVersions] = useState<VersionWithDiff[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  const [compare, setCompare] = useState<VersionDiff | null>(null);
  const [revision, setRevision] = useState<RevisionStats | null>(null);

  const load = useCallback(async () => {
    try {
      const r = await reportApi.versions(examId);
      setVersions(r.versions);
      setError(null);
      // 修改率: how much the reviewer changed the preliminary text when signing
      setRevision(r.versions.some((v) => v.kind === 'final') ? await reportApi.revision(examId) : null);
      const last = r.versions[r.versions.length - 1];
      setSelected((s) => (s !== null && r.versions.some((v) => v.number === s) ? s : (last?.number ?? null)));
    } catch (err) {
      setError(localMessage(err, i18n.language));
    }
  }, [examId, i18n.language]);
  useEffect(() => {
    void load();
  }, [load, refreshKey]);

  const runCompare = async (): Promise<void> => {
    if (from === null || to === null) return;
    try {
      setCompare(await reportApi.diff(examId, from, to));
    } catch (err) {
      setError(localMessage(err, i18n.language));
    }
  };

  if (error !== null) return <Alert type="error" showIcon title={error} />;
  if (versions === null) return null;
  if (versions.length === 0) return <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} />;
  const sel = versions.find((v) => v.number === selected);
  const options = versions.map((v) => ({ value: v.number, label: `v${v.number} ${t(`rp.kind.${v.kind}`)}` }));

  const pct = (x: number): string => `${Math.round(x * 1000) / 10}%`;
  return (
    <div data-testid="version-history">
      {revision !== null && (
        <div className="hy-revision" data-testid="revision-stats">
          <Tag color={revision.modified ? 'gold' : 'green'}>
            {t('rp.history.revision', { ratio: pct(revision.overallRatio) })}
          </Tag>
          <Typography.Text type="secondary">
            {t('rp.history.revisionDetail', {
              findings: pct(revision.findingsRatio),
              impression: pct(revision.impressionRatio),
              returns: revision.returns,
            })}
          </Typography.Text>
        </div>
      )}
      <Table<VersionWithDiff>
        size="small"
        rowKey="id"
        pagination={false}
        dataSource={[...versions].reverse()}
        rowClassName={(v) => (v.number === selected ? 'hy-version-selected' : '')}
        onRow={(v) => ({
          onClick: () => setSelected(v.number),
          'data-testid': 'version-row',
          'data-kind': v.kind,
          'data-number': v.number,
          style: { cursor: 'pointer' },
        })}
        columns={[
          { title: '#', dataIndex: 'number', width: 44, render: (n: number) => `v${n}` },
          {
            title: t('rp.history.kind'),
            dataIndex: 'kind',
            width: 90,
            render: (k: VersionKind) => <KindTag kind={k} />,
          },
          {
            title: t('rp.history.author'),
            key: 'author',
            render: (_: unknown, v) => (
              <span>
                {v.author.name}
                {v.reviewer !== null && (
                  <Typography.Text type="secondary">
                    {' '}
                    · {t('rp.history.reviewer')} {v.reviewer.name}
                  </Typography.Text>
                )}
              </span>
            ),
          },
          {
            title: t('rp.history.signed'),
            key: 'signed',
            render: (_: unknown, v) =>
              v.signedBy !== null ? (
                <Space size={4}>
                  {v.hashValid === true ? (
                    <Tooltip title={t('rp.history.hashValid', { hash: v.contentHash ?? '' })}>
                      <CheckCircleTwoTone twoToneColor="#52c41a" />
                    </Tooltip>
                  ) : v.hashValid === false ? (
                    <Tooltip title={t('rp.history.hashInvalid')}>
                      <CloseCircleTwoTone twoToneColor="#cf1322" />
                    </Tooltip>
                  ) : null}
                  {v.signedBy.name}
                  <Typography.Text type="secondary">{formatTime(v.signedAt)}</Typography.Text>
                </Space>
              ) : (
                <Typography.Text type="secondary">{formatTime(v.updatedAt)}</Typography.Text>
              ),
          },
          {
            title: t('rp.history.note'),
            key: 'note',
            ellipsis: true,
            render: (_: unknown, v) =>
              v.reviewOpinion !== null ? (
                <Tooltip title={v.reviewOpinion}>
                  <Tag color="warning">{t('rp.history.opinion')}</Tag>
                  {v.reviewOpinion}
                </Tooltip>
              ) : v.reason !== null ? (
                <Tooltip title={v.reason}>
                  <Tag color="orange">{t('rp.history.reason')}</Tag>
                  {v.reason}
                </Tooltip>
              ) : v.addendum !== null ? (
                <Tooltip title={v.addendum}>{v.addendum}</Tooltip>
              ) : null,
          },
        ]}
      />
      {sel !== undefined && (
        <div style={{ marginTop: 8 }}>
          <Typography.Text strong>
            {sel.diff === null
              ? t('rp.history.firstVersion', { n: sel.number })
              : t('rp.history.diffTitle', { n: sel.number, prev: sel.number - 1 })}
          </Typography.Text>
          {sel.diff !== null ? (
            <DiffBlock diff={sel.diff} addendum={sel.kind === 'addendum' ? sel.addendum : null} />
          ) : (
            <DiffBlock
              diff={{
                findings: sel.findings !== '' ? [{ op: 'equal', text: sel.findings }] : [],
                impression: sel.impression !== '' ? [{ op: 'equal', text: sel.impression }] : [],
                recommendation: sel.recommendation !== '' ? [{ op: 'equal', text: sel.recommendation }] : [],
              }}
            />
          )}
        </div>
      )}
      {versions.length > 2 && (
        <div style={{ marginTop: 12 }}>
          <Space wrap>
            <Typography.Text>{t('rp.history.compare')}</Typography.Text>
            <Select
              size="small"
              style={{ width: 150 }}
              options={options}
              value={from}
              onChange={setFrom}
              placeholder={t('rp.history.from')}
              data-testid="compare-from"
            />
            <SwapOutlined />
            <Select
              size="small"
              style={{ width: 150 }}
              options={options}
              value={to}
              onChange={setTo}
              placeholder={t('rp.history.to')}
              data-testid="compare-to"
            />
            <Button size="small" disabled={from === null || to === null} onClick={() => void runCompare()}>
              {t('rp.history.compareRun')}
            </Button>
          </Space>
          {compare !== null && <DiffBlock diff={compare} />}
        </div>
      )}
    </div>
  );
}
