/**
 * 检查登记 — the registration form (`/register`): patient, exam items, modality/body part, priority,
 * patient class, the clinical information, the requesting department/physician and the scheduled time;
 * POST /api/orders; shows the generated accession number. Member users register for their own hospital
 * (the server fills it in); center staff choose the member hospital.
 */
import { useState, type ReactNode } from 'react';
import {
  App,
  AutoComplete,
  Button,
  Card,
  Checkbox,
  Col,
  DatePicker,
  Divider,
  Form,
  Input,
  Radio,
  Result,
  Row,
  Select,
  Space,
  Typography,
} from 'antd';
import type { FormInstance } from 'antd';
import { MinusCircleOutlined, PlusOutlined } from '@ant-design/icons';
import type { Dayjs } from 'dayjs';
import dayjs from 'dayjs';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router-dom';
import { api, type Hospital } from '../api.ts';
import { useAuth } from '../auth.tsx';
import {
  BODY_PARTS,
  MODALITIES,
  PATIENT_CLASSES,
  type Exam,
  type PatientClass,
  type Priority,
} from '../ris.ts';
import { errorText, useList } from './common.tsx';

export interface OrderValues {
  hospitalId?: number;
  patientId: string;
  name: string;
  sex?: string;
  birthDate?: Dayjs | null;
  phone?: string;
  examItems: { name?: string; code?: string }[];
  modality: string;
  bodyPart?: string;
  priority: Priority;
  patientClass?: PatientClass;
  complex?: boolean;
  clinicalHistory?: string;
  symptoms?: string;
  clinicalDiagnosis?: string;
  examPurpose?: string;
  requestingDepartment?: string;
  requestingPhysician?: string;
  scheduledAt?: Dayjs | null;
}

const opt = (v: string | undefined): string | undefined => {
  const s = v?.trim();
  return s === undefined || s === '' ? undefined : s;
};

/** the order body of POST /api/orders (OrderInput without source) */
export function orderBody(v: OrderValues): Record<string, unknown> {
  const body: Record<string, unknown> = {
    patient: {
      patientId: v.patientId.trim(),
      name: v.name.trim(),
      ...(v.sex !== undefined ? { sex: v.sex } : {}),
      ...(v.birthDate != null ? { birthDate: v.birthDate.format('YYYYMMDD') } : {}),
      ...(opt(v.phone) !== undefined ? { phone: opt(v.phone) } : {}),
    },
    examItems: v.examItems
      .filter((i) => opt(i.name) !== undefined)
      .map((i) => ({ name: opt(i.name), ...(opt(i.code) !== undefined ? { code: opt(i.code) } : {}) })),
    modality: v.modality,
    priority: v.priority,
    complex: v.complex === true,
  };
  if (v.hospitalId !== undefined) body.hospitalId = v.hospitalId;
  const bodyPart = opt(v.bodyPart)?.toUpperCase();
  if (bodyPart !== undefined) body.bodyPart = bodyPart;
  if (v.patientClass !== undefined) body.patientClass = v.patientClass;
  for (const k of [
    'clinicalHistory',
    'symptoms',
    'clinicalDiagnosis',
    'examPurpose',
    'requestingDepartment',
    'requestingPhysician',
  ] as const) {
    const s = opt(v[k]);
    if (s !== undefined) body[k] = s;
  }
  if (v.scheduledAt != null) body.scheduledAt = v.scheduledAt.toISOString();
  return body;
}

export function RegisterPage() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const { me } = useAuth();
  const navigate = useNavigate();
  const [form] = Form.useForm<OrderValues>();
  const [saving, setSaving] = useState(false);
  const [created, setCreated] = useState<Exam | null>(null);
  const atCenter = me?.hospital?.isCenter === true;
  const { rows: hospitals } = useList<Hospital>('/api/admin/hospitals', 'hospitals');

  const submit = async (v: OrderValues): Promise<void> => {
    setSaving(true);
    try {
      const r = await api<{ exam: Exam }>('POST', '/api/orders', orderBody(v));
      setCreated(r.exam);
    } catch (err) {
      void message.error(t('common.error', { message: errorText(err) }));
    } finally {
      setSaving(false);
    }
  };

  if (created !== null)
    return (
      <Card>
        <Result
          status="success"
          title={t('wf.register.done')}
          subTitle={
            <Space orientation="vertical">
              <span>
                {t('wf.register.accessionIs')}：
                <Typography.Text copyable strong style={{ fontSize: 20 }} data-testid="accession-number">
                  {created.accessionNumber}
                </Typography.Text>
              </span>
              <span>
                {created.hospitalName} · {created.examItems.map((i) => i.name).join('、')}
              </span>
            </Space>
          }
          extra={[
            <Button key="open" type="primary" onClick={() => void navigate(`/exams/${created.id}`)}>
              {t('wf.register.openExam')}
            </Button>,
            <Button
              key="again"
              onClick={() => {
                setCreated(null);
                form.resetFields();
              }}
              data-testid="register-another"
            >
              {t('wf.register.another')}
            </Button>,
          ]}
        />
      </Card>
    );

  return (
    <Card size="small" title={t('wf.register.title')}>
      <OrderForm form={form} hospitals={atCenter ? hospitals : undefined} onFinish={(v) => void submit(v)}>
        <Space>
          <Button type="primary" htmlType="submit" loading={saving} data-testid="register-submit">
            {t('wf.register.submit')}
          </Button>
          <Button onClick={() => form.resetFields()}>{t('common.reset')}</Button>
        </Space>
      </OrderForm>
    </Card>
  );
}

/**
 * The order's fields (patient, exam, clinical information) — the registration form and the order editor
 * on the case page. `hospitals`: choose the requesting hospital (center staff registering for a member).
 */
export function OrderForm({
  form,
  hospitals,
  initialValues,
  onFinish,
  children,
}: {
  form: FormInstance<OrderValues>;
  hospitals?: Hospital[] | undefined;
  initialValues?: Partial<OrderValues>;
  onFinish: (v: OrderValues) => void;
  children?: ReactNode;
}) {
  const { t } = useTranslation();
  const required = { required: true, whitespace: true, message: t('wf.register.required') };
  return (
    <Form<OrderValues>
      form={form}
      layout="vertical"
      onFinish={onFinish}
      initialValues={
        initialValues ?? {
          priority: 'routine',
          patientClass: 'outpatient',
          examItems: [{ name: '' }],
          complex: false,
        }
      }
      requiredMark
      scrollToFirstError
      style={{ maxWidth: 1100 }}
    >
      {hospitals !== undefined && (
        <Form.Item
          name="hospitalId"
          label={t('wf.register.hospital')}
          rules={[{ required: true, message: t('wf.register.required') }]}
        >
          <Select
            id="reg-hospital"
            style={{ maxWidth: 360 }}
            showSearch={{ optionFilterProp: 'label' }}
            options={hospitals.filter((h) => !h.isCenter).map((h) => ({ value: h.id, label: h.name }))}
          />
        </Form.Item>
      )}
      <Divider titlePlacement="start" plain>
        {t('wf.register.patientSection')}
      </Divider>
      <Row gutter={16}>
        <Col xs={24} md={5}>
          <Form.Item
            name="patientId"
            label={t('wf.register.patientId')}
            rules={[required, { max: 64, pattern: /^[^\\^=]*$/, message: t('wf.register.patientIdRule') }]}
          >
            <Input id="reg-patient-id" autoFocus />
          </Form.Item>
        </Col>
        <Col xs={24} md={5}>
          <Form.Item name="name" label={t('wf.register.name')} rules={[required, { max: 64 }]}>
            <Input id="reg-name" />
          </Form.Item>
        </Col>
        <Col xs={12} md={5}>
          <Form.Item name="sex" label={t('wf.register.sex')}>
            <Radio.Group
              id="reg-sex"
              optionType="button"
              options={['M', 'F', 'O'].map((s) => ({ value: s, label: t(`wf.sex.${s}`) }))}
            />
          </Form.Item>
        </Col>
        <Col xs={12} md={5}>
          <Form.Item
            name="birthDate"
            label={t('wf.register.birthDate')}
            rules={[
              {
                validator: (_r, v: Dayjs | null | undefined) =>
                  v != null && v.isAfter(dayjs(), 'day')
                    ? Promise.reject(new Error(t('wf.register.birthFuture')))
                    : Promise.resolve(),
              },
            ]}
          >
            <DatePicker id="reg-birth" style={{ width: '100%' }} />
          </Form.Item>
        </Col>
        <Col xs={24} md={4}>
          <Form.Item
            name="phone"
            label={t('wf.register.phone')}
            rules={[{ pattern: /^[0-9+\-() ]{3,32}$/, message: t('wf.register.phoneRule') }]}
          >
            <Input id="reg-phone" />
          </Form.Item>
        </Col>
      </Row>

      <Divider titlePlacement="start" plain>
        {t('wf.register.examSection')}
      </Divider>
      <Row gutter={16}>
        <Col xs={24} md={12}>
          <Form.List
            name="examItems"
            rules={[
              {
                validator: (_r, items: { name?: string }[] | undefined) =>
                  (items ?? []).some((i) => opt(i.name) !== undefined)
                    ? Promise.resolve()
                    : Promise.reject(new Error(t('wf.register.itemsRequired'))),
              },
            ]}
          >
            {(fields, { add, remove }, { errors }) => (
              <Form.Item label={t('wf.register.items')} required>
                {fields.map((f, i) => (
                  <Space key={f.key} align="baseline" style={{ display: 'flex', marginBottom: 4 }}>
                    <Form.Item name={[f.name, 'name']} noStyle rules={[{ max: 200 }]}>
                      <Input
                        id={`reg-item-${i}`}
                        placeholder={t('wf.register.itemName')}
                        style={{ width: 280 }}
                      />
                    </Form.Item>
                    <Form.Item name={[f.name, 'code']} noStyle rules={[{ max: 64 }]}>
                      <Input placeholder={t('wf.register.itemCode')} style={{ width: 120 }} />
                    </Form.Item>
                    {fields.length > 1 && (
                      <MinusCircleOutlined onClick={() => remove(f.name)} aria-label={t('common.delete')} />
                    )}
                  </Space>
                ))}
                <Button
                  type="dashed"
                  size="small"
                  icon={<PlusOutlined />}
                  onClick={() => add({ name: '' })}
                  data-testid="reg-add-item"
                >
                  {t('wf.register.addItem')}
                </Button>
                <Form.ErrorList errors={errors} />
              </Form.Item>
            )}
          </Form.List>
        </Col>
        <Col xs={12} md={4}>
          <Form.Item
            name="modality"
            label={t('wf.register.modality')}
            rules={[{ required: true, message: t('wf.register.required') }]}
          >
            <Select id="reg-modality" showSearch options={MODALITIES.map((m) => ({ value: m, label: m }))} />
          </Form.Item>
        </Col>
        <Col xs={12} md={4}>
          <Form.Item
            name="bodyPart"
            label={t('wf.register.bodyPart')}
            rules={[{ max: 16, pattern: /^[A-Za-z0-9_ ]*$/, message: 'A–Z 0–9 _' }]}
          >
            <AutoComplete
              id="reg-bodypart"
              options={BODY_PARTS.map((b) => ({ value: b }))}
              showSearch={{
                filterOption: (input, o) => (o?.value ?? '').toString().includes(input.toUpperCase()),
              }}
            />
          </Form.Item>
        </Col>
        <Col xs={24} md={4}>
          <Form.Item name="scheduledAt" label={t('wf.register.scheduledAt')}>
            <DatePicker
              id="reg-scheduled"
              showTime={{ format: 'HH:mm' }}
              format="YYYY-MM-DD HH:mm"
              style={{ width: '100%' }}
            />
          </Form.Item>
        </Col>
      </Row>
      <Row gutter={16}>
        <Col xs={24} md={6}>
          <Form.Item name="priority" label={t('wf.register.priority')} rules={[{ required: true }]}>
            <Radio.Group
              id="reg-priority"
              optionType="button"
              buttonStyle="solid"
              options={[
                { value: 'routine', label: t('wf.priority.routine') },
                {
                  value: 'emergency',
                  label: <span style={{ fontWeight: 600 }}>{t('wf.priority.emergency')}</span>,
                },
              ]}
            />
          </Form.Item>
        </Col>
        <Col xs={24} md={10}>
          <Form.Item name="patientClass" label={t('wf.register.patientClass')}>
            <Radio.Group
              id="reg-class"
              optionType="button"
              options={PATIENT_CLASSES.map((c) => ({ value: c, label: t(`wf.patientClass.${c}`) }))}
            />
          </Form.Item>
        </Col>
        <Col xs={24} md={4}>
          <Form.Item name="complex" label=" " valuePropName="checked">
            <Checkbox>{t('wf.register.complex')}</Checkbox>
          </Form.Item>
        </Col>
      </Row>

      <Divider titlePlacement="start" plain>
        {t('wf.register.clinicalSection')}
      </Divider>
      <Row gutter={16}>
        {(['clinicalHistory', 'symptoms', 'clinicalDiagnosis', 'examPurpose'] as const).map((k) => (
          <Col xs={24} md={12} key={k}>
            <Form.Item name={k} label={t(`wf.register.${k}`)} rules={[{ max: 2000 }]}>
              <Input.TextArea id={`reg-${k}`} rows={2} autoSize={{ minRows: 2, maxRows: 6 }} />
            </Form.Item>
          </Col>
        ))}
        <Col xs={24} md={6}>
          <Form.Item
            name="requestingDepartment"
            label={t('wf.register.requestingDepartment')}
            rules={[{ max: 64 }]}
          >
            <Input id="reg-dept" />
          </Form.Item>
        </Col>
        <Col xs={24} md={6}>
          <Form.Item
            name="requestingPhysician"
            label={t('wf.register.requestingPhysician')}
            rules={[{ max: 64 }]}
          >
            <Input id="reg-physician" />
          </Form.Item>
        </Col>
      </Row>
      {children}
    </Form>
  );
}

/** The form values of an existing order (for editing). */
export function valuesOf(e: Exam): OrderValues {
  return {
    patientId: e.patient.patientId,
    name: e.patient.name,
    ...(e.patient.sex !== null ? { sex: e.patient.sex } : {}),
    birthDate: e.patient.birthDate !== null ? dayjs(e.patient.birthDate, 'YYYYMMDD') : null,
    phone: e.patient.phone ?? '',
    examItems: e.examItems.map((i) => ({ name: i.name, code: i.code ?? '' })),
    modality: e.modality,
    bodyPart: e.bodyPart ?? '',
    priority: e.priority,
    ...(e.patientClass !== null ? { patientClass: e.patientClass } : {}),
    complex: e.complex,
    clinicalHistory: e.clinicalHistory ?? '',
    symptoms: e.symptoms ?? '',
    clinicalDiagnosis: e.clinicalDiagnosis ?? '',
    examPurpose: e.examPurpose ?? '',
    requestingDepartment: e.requestingDepartment ?? '',
    requestingPhysician: e.requestingPhysician ?? '',
    scheduledAt: e.scheduledAt !== null ? dayjs(e.scheduledAt) : null,
  };
}
