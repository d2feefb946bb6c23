/**
 * First run: when there is no user at all, create the administrator `admin` (system_admin) in the
 * center hospital — the first center hospital, or a new center hospital CENTER when no hospital exists
 * yet; with hospitals but no center, nothing is created and a hint is printed — with the password from HUIYING_ADMIN_PASSWORD or a random one printed once. Either way the
 * password must be changed at first login.
 */
import type { HospitalRepository } from '../archive/ports.ts';
import type { AccountService } from './service.ts';

export const INITIAL_ADMIN = 'admin';

export async function ensureInitialAdmin(
  accounts: AccountService,
  hospitals: HospitalRepository,
  opts: { password?: string; print: (text: string) => void },
): Promise<{ created: boolean }> {
  if ((await accounts.users.count()) > 0) return { created: false };
  const all = await hospitals.list();
  let center = all.find((h) => h.isCenter);
  if (center === undefined) {
    if (all.length > 0) {
      opts.print(
        'huiying: no user and no center hospital: register the center (huiying hospital add CODE --name NAME --center) and restart to create the administrator\n',
      );
      return { created: false };
    }
    center = await hospitals.create({ code: 'CENTER', name: '区域医学影像诊断中心', isCenter: true });
  }
  const given = opts.password !== undefined && opts.password !== '' ? opts.password : undefined;
  const { temporaryPassword } = await accounts.createUser(
    'system',
    { username: INITIAL_ADMIN, displayName: '系统管理员', hospitalId: center.id, roles: ['system_admin'] },
    given,
  );
  if (given === undefined) {
    opts.print(
      [
        '',
        '================================================================',
        ' Huiying first run: administrator account created',
        `   username: ${INITIAL_ADMIN}`,
        `   password: ${temporaryPassword}`,
        ' This password is shown only once; change it at first login.',
        '================================================================',
        '',
      ].join('\n'),
    );
  }
  return { created: true };
}
