import { useCallback, useEffect, useState } from 'react';
import { App } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, type Hospital } from '../api.ts';

/** Load `path` (GET) and pick `key` from the answer; errors become a message. */
export function useList<T>(
  path: string,
  key: string,
): { rows: T[]; loading: boolean; reload: () => Promise<void> } {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const [rows, setRows] = useState<T[]>([]);
  const [loading, setLoading] = useState(true);
  const reload = useCallback(async () => {
    setLoading(true);
    try {
      const r = await api<Record<string, T[]>>('GET', path);
      setRows(r[key] ?? []);
    } catch (err) {
      void message.error(t('common.error', { message: err instanceof Error ? err.message : String(err) }));
    } finally {
      setLoading(false);
    }
  }, [path, key, message, t]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { rows, loading, reload };
}

export function useHospitals(): { hospitals: Hospital[]; nameOf: (id: number) => string } {
  const { rows } = useList<Hospital>('/api/admin/hospitals', 'hospitals');
  return {
    hospitals: rows,
    nameOf: (id) => rows.find((h) => h.id === id)?.name ?? String(id),
  };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
