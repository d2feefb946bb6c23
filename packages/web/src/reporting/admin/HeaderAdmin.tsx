/**
 * 报告页眉 — per member hospital: title lines (the hospital name, 区域医学影像诊断中心, the report
 * title…), logo (PNG ≤ 256 KiB), the patient/exam fields printed and their order, footer; with a live A4
 * preview rendered by the same sheet as the print view. System administrators pick any hospital, a hospital
 * administrator edits their own.
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import {
  App,
  Button,
  Card,
  Checkbox,
  Col,
  Form,
  Input,
  Row,
  Select,
  Space,
  Spin,
  Typography,
  Upload,
} from 'antd';
import { DeleteOutlined, MinusCircleOutlined, PlusOutlined, UploadOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../../auth.tsx';
import { useHospitals } from '../../pages/common.tsx';
import type { Exam } from '../../ris.ts';
import {
  HEADER_FIELDS,
  localMessage,
  reportApi,
  type HeaderField,
  type ReportHeaderConfig,
  type ReportVersion,
} from '../api.ts';
import { FIELD_LABELS, ReportSheet } from '../sheet.tsx';
import '../reporting.css';
import { validated } from '../forms.ts';

const LOGO_MAX = 256 * 1024;

interface HeaderForm {
  lines: string[];
  fields: HeaderField[];
  footer: string;
}

/** sample data for the preview */
function sampleExam(hospitalId: number, hospitalName: string): Exam {
  const at = new Date().toISOString();
  return {
    id: 0,
    hospitalId,
    hospitalName,
    patient: {
      id: 0,
      hospitalId,
      patientId: 'P000123',
      issuer: '',
      name: 'Zhang^San=张^三',
      sex: 'M',
      birthDate: '19750612',
      phone: null,
      mergedInto: null,
      createdAt: at,
      updatedAt: at,
    },
    accessionNumber: 'CT20261126001',
    placerOrderNumber: null,
    examItems: [{ name: '胸部CT平扫' }],
    modality: 'CT',
    bodyPart: 'CHEST',
    priority: 'routine',
    patientClass: 'outpatient',
    complex: false,
    clinicalHistory: null,
    symptoms: null,
    clinicalDiagnosis: '咳嗽待查',
    examPurpose: null,
    requestingDepartment: '呼吸内科',
    requestingPhysician: '李建国',
    scheduledAt: null,
    source: 'form',
    status: 'reviewed',
    statusAt: at,
    registeredAt: at,
    examinedAt: at,
    matchedAt: at,
    reportedAt: at,
    reviewedAt: at,
    studyId: null,
    studyInstanceUid: null,
    readAtCenter: true,
    reviewRequired: true,
    limitMinutes: 120,
    dueAt: null,
    assignedTo: null,
    assignedAt: null,
    identityConflict: null,
    version: 1,
    createdAt: at,
    updatedAt: at,
  };
}

function sampleVersion(): ReportVersion {
  const at = new Date().toISOString();
  return {
    id: 0,
    reportId: 0,
    number: 3,
    kind: 'final',
    findings:
      '胸廓对称，气管居中。双肺纹理清晰，未见明确实变及结节影。纵隔内未见肿大淋巴结。心影大小形态未见异常。双侧胸腔未见积液。',
    impression: '胸部CT平扫未见明显异常。',
    recommendation: '',
    positive: false,
    critical: false,
    structured: {},
    addendum: null,
    author: { userId: 0, name: '王住院' },
    reviewer: { userId: 0, name: '李主治' },
    reviewOpinion: null,
    signedBy: { userId: 0, name: '李主治' },
    signedAt: at,
    contentHash: '3f6c0e0b9a1d2c4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789',
    reason: null,
    basedOn: null,
    createdAt: at,
    updatedAt: at,
  };
}

function readPng(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => {
      const url = typeof r.result === 'string' ? r.result : '';
      resolve(url.slice(url.indexOf(',') + 1));
    };
    r.onerror = () => reject(r.error ?? new Error('read failed'));
    r.readAsDataURL(file);
  });
}

async function isPng(file: File): Promise<boolean> {
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return sig.every((b, i) => head[i] === b);
}

export function ReportHeaderAdminPage() {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const { me } = useAuth();
  const { hospitals } = useHospitals();
  const isSys = me?.user.roles.includes('system_admin') === true;
  const [hospitalId, setHospitalId] = useState<number | undefined>(isSys ? undefined : me?.user.hospitalId);
  const [loaded, setLoaded] = useState<ReportHeaderConfig | null>(null);
  const [logo, setLogo] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [form] = Form.useForm<HeaderForm>();
  const values = Form.useWatch([], form) as Partial<HeaderForm> | undefined;

  const choices = useMemo(
    () => (isSys ? hospitals : hospitals.filter((h) => h.id === me?.user.hospitalId)),
    [hospitals, isSys, me],
  );
  useEffect(() => {
    if (hospitalId === undefined && choices.length > 0) {
      const firstMember = choices.find((h) => !h.isCenter) ?? choices[0];
      setHospitalId(firstMember?.id);
    }
  }, [choices, hospitalId]);

  const load = useCallback(async () => {
    if (hospitalId === undefined) return;
    setLoaded(null);
    try {
      const r = await reportApi.header(hospitalId);
      setLoaded(r.header);
      setLogo(r.header.logoPngBase64);
      form.setFieldsValue({ lines: r.header.lines, fields: r.header.fields, footer: r.header.footer });
    } catch (err) {
      void message.error(localMessage(err, i18n.language));
    }
  }, [hospitalId, form, message, i18n.language]);
  useEffect(() => {
    void load();
  }, [load]);

  const hospital = hospitals.find((h) => h.id === hospitalId);
  const preview: ReportHeaderConfig | null =
    loaded === null || hospitalId === undefined
      ? null
      : {
          hospitalId,
          lines: (values?.lines ?? loaded.lines).filter((l): l is string => typeof l === 'string'),
          logoPngBase64: logo,
          // printed in the canonical order
          fields: HEADER_FIELDS.filter((f) => (values?.fields ?? loaded.fields).includes(f)),
          footer: values?.footer ?? loaded.footer,
          updatedAt: loaded.updatedAt,
        };

  const save = async (): Promise<void> => {
    if (hospitalId === undefined) return;
    const v = await validated(form);
    if (v === undefined) return;
    setSaving(true);
    try {
      const r = await reportApi.setHeader(hospitalId, {
        lines: v.lines.map((l) => l.trim()).filter((l) => l !== ''),
        logoPngBase64: logo,
        fields: HEADER_FIELDS.filter((f) => v.fields.includes(f)),
        footer: v.footer ?? '',
      });
      setLoaded(r.header);
      void message.success(t('common.saved'));
    } catch (err) {
      void message.error(t('common.error', { message: localMessage(err, i18n.language) }));
    } finally {
      setSaving(false);
    }
  };

  return (
    <Row gutter={16}>
      <Col xs={24} xxl={10}>
        <Card
          title={t('rp.admin.headerTitle')}
          extra={
            <Select
              style={{ width: 240 }}
              value={hospitalId}
              onChange={setHospitalId}
              options={choices.map((h) => ({ value: h.id, label: h.name }))}
              data-testid="header-hospital"
              disabled={!isSys}
            />
          }
        >
          {loaded === null ? (
            <Spin />
          ) : (
            <Form form={form} layout="vertical" data-testid="header-form">
              <Typography.Text strong>{t('rp.admin.lines')}</Typography.Text>
              <Form.List name="lines">
                {(fields, { add, remove }) => (
                  <>
                    {fields.map((f, i) => (
                      <Space key={f.key} align="baseline" style={{ display: 'flex' }}>
                        <Form.Item
                          name={f.name}
                          rules={[{ required: true, whitespace: true, message: t('rp.required') }]}
                          style={{ marginBottom: 6, width: 380 }}
                        >
                          <Input
                            maxLength={100}
                            placeholder={t('rp.admin.linePlaceholder', { n: i + 1 })}
                            id={`header-line-${i}`}
                          />
                        </Form.Item>
                        {fields.length > 1 && <MinusCircleOutlined onClick={() => remove(f.name)} />}
                      </Space>
                    ))}
                    {fields.length < 5 && (
                      <Button
                        type="dashed"
                        size="small"
                        icon={<PlusOutlined />}
                        onClick={() => add('')}
                        style={{ marginBottom: 12 }}
                      >
                        {t('rp.admin.addLine')}
                      </Button>
                    )}
                  </>
                )}
              </Form.List>
              <Form.Item label={t('rp.admin.logo')} extra={t('rp.admin.logoHint')}>
                <Space>
                  <Upload
                    accept="image/png"
                    showUploadList={false}
                    beforeUpload={(file) => {
                      void (async () => {
                        if (file.size > LOGO_MAX) {
                          void message.error(t('rp.admin.logoTooLarge'));
                          return;
                        }
                        if (!(await isPng(file))) {
                          void message.error(t('rp.admin.logoNotPng'));
                          return;
                        }
                        setLogo(await readPng(file));
                      })();
                      return false;
                    }}
                  >
                    <Button icon={<UploadOutlined />} data-testid="logo-upload">
                      {t('rp.admin.uploadLogo')}
                    </Button>
                  </Upload>
                  {logo !== null && (
                    <>
                      <img src={`data:image/png;base64,${logo}`} alt="logo" style={{ height: 40 }} />
                      <Button icon={<DeleteOutlined />} onClick={() => setLogo(null)}>
                        {t('rp.admin.removeLogo')}
                      </Button>
                    </>
                  )}
                </Space>
              </Form.Item>
              <Form.Item name="fields" label={t('rp.admin.fields')}>
                <Checkbox.Group
                  style={{ display: 'grid', gridTemplateColumns: 'repeat(3, 1fr)', gap: 4 }}
                  options={HEADER_FIELDS.map((f) => ({
                    value: f,
                    label:
                      i18n.language === 'en' ? `${t(`rp.field.${f}`)} ${FIELD_LABELS[f]}` : FIELD_LABELS[f],
                  }))}
                />
              </Form.Item>
              <Form.Item name="footer" label={t('rp.admin.footer')}>
                <Input.TextArea rows={2} maxLength={500} id="header-footer" />
              </Form.Item>
              <Space>
                <Button type="primary" loading={saving} onClick={() => void save()} data-testid="header-save">
                  {t('common.save')}
                </Button>
                <Button onClick={() => void load()}>{t('common.reset')}</Button>
                {loaded.updatedAt === null && (
                  <Typography.Text type="secondary">{t('rp.admin.defaultHeader')}</Typography.Text>
                )}
              </Space>
            </Form>
          )}
        </Card>
      </Col>
      <Col xs={24} xxl={14}>
        <Card title={t('rp.admin.preview')} styles={{ body: { background: '#f0f0f0', overflow: 'auto' } }}>
          {preview !== null && hospitalId !== undefined && (
            <div data-testid="header-preview">
              <ReportSheet
                header={preview}
                exam={sampleExam(hospitalId, hospital?.name ?? '')}
                version={sampleVersion()}
                addenda={[]}
              />
            </div>
          )}
        </Card>
      </Col>
    </Row>
  );
}
