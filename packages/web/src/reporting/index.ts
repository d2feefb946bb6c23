/**
 * The reporting UI, for wiring into the application:
 * - `ReportPanel` on the case page (`<ReportPanel exam={detail.exam} />`);
 * - routes: `/exams/:id/report/print` → `ReportPrintPage`; `/admin/report-header` →
 *   `ReportHeaderAdminPage`; `/admin/report-templates` → `ReportTemplatesAdminPage`; `/admin/delivery` →
 *   `DeliveryOutboxPage`; who sees which entry: `reportingPermissions(me)`;
 * - strings: `registerReportingI18n(i18n)` once after i18n.init.
 */
import type { Me } from '../api.ts';

export { ReportPanel } from './ReportPanel.tsx';
export { ReportPrintPage } from './PrintPage.tsx';
export { ReportHeaderAdminPage } from './admin/HeaderAdmin.tsx';
export { ReportTemplatesAdminPage } from './admin/TemplatesAdmin.tsx';
export { DeliveryOutboxPage } from './admin/DeliveryAdmin.tsx';
export { registerReportingI18n } from './i18n.ts';

/** Which reporting pages the user may open (mirrors the server's checks; the server decides). */
export function reportingPermissions(me: Me | null): {
  header: boolean;
  templates: boolean;
  delivery: boolean;
} {
  const roles = me?.user.roles ?? [];
  const sys = roles.includes('system_admin');
  const hospAdmin = roles.includes('hospital_admin');
  const readOnly = me?.readOnly === true;
  return {
    header: !readOnly && (sys || hospAdmin),
    templates:
      !readOnly &&
      (sys || hospAdmin || roles.includes('center_radiologist') || roles.includes('center_qc_manager')),
    delivery: !readOnly && (sys || hospAdmin),
  };
}
