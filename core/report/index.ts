/** Charts and pages drawn from a journey report (journeys/report.ts). */
export { renderFunnelChart } from './chart';
export { renderReportHtml } from './html';
export { encodePng } from './png';
