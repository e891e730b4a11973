export * from './protocol.js';
export * from './os/types.js';
