import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, setCsrfToken, type Me } from './api.ts';

interface AuthState {
  me: Me | null;
  loading: boolean;
  refresh: () => Promise<void>;
  logout: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(true);
  const refresh = useCallback(async () => {
    try {
      const m = await api<Me>('GET', '/api/auth/me');
      setCsrfToken(m.csrfToken);
      setMe(m);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) console.error(err);
      setCsrfToken('');
      setMe(null);
    } finally {
      setLoading(false);
    }
  }, []);
  const logout = useCallback(async () => {
    try {
      await api('POST', '/api/auth/logout');
    } finally {
      setCsrfToken('');
      setMe(null);
    }
  }, []);
  useEffect(() => {
    void refresh();
  }, [refresh]);
  const value = useMemo(() => ({ me, loading, refresh, logout }), [me, loading, refresh, logout]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const a = useContext(AuthContext);
  if (a === null) throw new Error('useAuth outside AuthProvider');
  return a;
}

/** What the signed-in user may open (mirrors the server's policy; the server decides). */
export function permissions(me: Me | null) {
  const roles = me?.user.roles ?? [];
  const sys = roles.includes('system_admin');
  const hospAdmin = roles.includes('hospital_admin');
  const readOnly = me?.readOnly === true;
  const atCenter = me?.hospital?.isCenter === true;
  /** center staff: claim/release/assign, return, link/unlink */
  const centerStaff = roles.some(
    (r) => r === 'system_admin' || r === 'center_radiologist' || r === 'center_qc_manager',
  );
  const member = roles.some(
    (r) => r === 'member_technologist' || r === 'member_clinician' || r === 'hospital_admin',
  );
  return {
    hospitals: sys,
    aes: sys || hospAdmin,
    users: sys || hospAdmin,
    tokens: sys || hospAdmin,
    audit: sys || roles.includes('auditor'),
    viewer: roles.some((r) => r !== 'hospital_admin'),
    centerStaff: centerStaff && !readOnly,
    /** the center worklist (center staff; center auditors read it) */
    worklist: centerStaff || (atCenter && roles.includes('auditor')),
    /** 本院检查: the member hospital's own exams */
    myExams: !atCenter && (member || roles.includes('auditor')),
    /** place orders, change them, mark examined */
    register: !readOnly && (centerStaff || member),
    matching: centerStaff,
    /** claim an exam for oneself (center radiologists, administrators) */
    claim: centerStaff && !readOnly && roles.some((r) => r === 'center_radiologist' || r === 'system_admin'),
    /** assign to a reader, release someone else's claim: attending or above, QC manager, administrator */
    assign:
      centerStaff &&
      !readOnly &&
      (sys || roles.includes('center_qc_manager') || (me?.privileges ?? []).includes('review')),
    policy: sys || hospAdmin,
    hl7: sys || hospAdmin,
  };
}
