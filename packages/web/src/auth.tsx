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
  return {
    hospitals: sys,
    aes: sys || hospAdmin,
    users: sys || hospAdmin,
    tokens: sys || hospAdmin,
    audit: sys || roles.includes('auditor'),
    viewer: roles.some((r) => r !== 'hospital_admin'),
  };
}
