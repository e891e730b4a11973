export { type CollectorOptions, COLLECTOR_DEFAULTS, type RunningCollector, startCollector } from './collector.js';
export { openDatabase } from './store/db.js';
export { readReport, type Report } from './store/report.js';
export { TokenStore } from './store/tokens.js';
