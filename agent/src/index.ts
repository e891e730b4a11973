/**
 * @hvmap/agent as a library: what the collector's demo fleet and the end-to-end tests need to run
 * real agents in-process (the drivers, the run loop, one-shot scans).
 */
export { AGENT_ID_FILE, loadOrCreateAgentId } from './agent-id.js';
export {
  AGENT_DEFAULTS,
  AGENT_NODE_OPTIONS,
  AGENT_VERSION,
  helpText,
  parseCommandLine,
  TOKEN_ENV,
  UsageError,
} from './config.js';
export { type AgentOptions, type BackoffOptions, backoffDelay, type RunningAgent, runAgent } from './connection.js';
export * from './drivers/index.js';
export { collectHostFacts, toHostFacts } from './host-facts.js';
export { createLogger } from './logger.js';
export { type ReplayEntry, ReplayError, replayRunner } from './replay.js';
export { formatTable, type IdentifiedInventory, identify } from './report.js';
export { DEFAULT_COMMAND_TIMEOUT_MS, localRunner, type Runner, type RunOptions, type RunResult } from './runner.js';
export { contentHash, type InventoryBody, NO_HYPERVISOR, type ScanOptions, scanOnce } from './scan.js';
export { SPOOL_FILE, Spool, type SpoolState } from './spool.js';
export { StateError } from './state-file.js';
