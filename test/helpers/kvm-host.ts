/**
 * A KVM host for real agent processes: libvirt's test driver reads the host's guests from a
 * node.xml the test rewrites to change them, and host files come from a root folder.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type DemoGuest, nodeXml } from '../../collector/src/demo/fleet.js';

const OS_RELEASE =
  'NAME="Red Hat Enterprise Linux"\nID="rhel"\nVERSION_ID="9.2"\nPRETTY_NAME="Red Hat Enterprise Linux 9.2 (Plow)"\n';

/** `n` running guests vm000, vm001, … with stable UUIDs and one libosinfo id. */
export function guests(n: number, osinfo = 'http://redhat.com/rhel/9.2'): DemoGuest[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `vm${String(i).padStart(3, '0')}`,
    uuid: `5a0c7e10-0000-4000-8000-${String(i).padStart(12, '0')}`,
    osinfo,
    memoryMiB: 1024,
    vcpus: 1,
    running: true,
  }));
}

/** Writes (or rewrites, atomically) host `name` under `dir`; returns its folder. */
export function writeHost(dir: string, name: string, list: DemoGuest[]): string {
  const hostDir = path.join(dir, name);
  mkdirSync(path.join(hostDir, 'root', 'etc'), { recursive: true });
  writeFileSync(path.join(hostDir, 'root', 'etc', 'os-release'), OS_RELEASE);
  writeFileSync(path.join(hostDir, 'node.xml.tmp'), nodeXml({ name, osRelease: OS_RELEASE, guests: list }));
  renameSync(path.join(hostDir, 'node.xml.tmp'), path.join(hostDir, 'node.xml'));
  return hostDir;
}

/** `hvmap-agent run` arguments for a host written by writeHost, scanning every second. */
export function agentArgs(collectorUrl: string, hostDir: string, extra: string[] = []): string[] {
  return [
    'run',
    '--collector',
    collectorUrl,
    '--libvirt-uri',
    `test://${path.join(hostDir, 'node.xml')}`,
    '--state-dir',
    path.join(hostDir, 'state'),
    '--interval',
    '1',
    '--root',
    path.join(hostDir, 'root'),
    ...extra,
  ];
}
