export { COLLECTOR_DEFAULTS, type CollectorOptions, type RunningCollector, startCollector } from './collector.js';
export { openDatabase } from './store/db.js';
export { type Report, readReport } from './store/report.js';
export { TokenStore } from './store/tokens.js';
