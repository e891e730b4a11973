export * from './os/identify-guest.js';
export * from './os/identify-hypervisor.js';
export * from './os/os-release.js';
export * from './os/types.js';
export * from './os/version.js';
export { identifyWindowsBuild } from './os/windows.js';
export * from './protocol.js';
