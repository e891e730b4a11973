import { describe, expect, it } from 'vitest';
import { type AlertPolicy, alertDelta, alertKey, desiredAlerts, type HostState } from './rules.js';

const policy: AlertPolicy = {
  today: '2026-11-26',
  eolWarnDays: 90,
  silentAfterMs: 180_000,
  now: Date.parse('2026-11-26T12:00:00Z'),
};

function host(guests: HostState['guests'], extra: Partial<HostState> = {}): HostState {
  return {
    agentName: 'kvm-01',
    hostname: 'kvm-01.example',
    hypervisorName: 'KVM on RHEL 9.2',
    lastContact: '2026-11-26T11:59:00Z',
    partial: false,
    errors: [],
    guests,
    ...extra,
  };
}

const guest = (name: string, status: string, osName: string | null, lifecycleEnd: string | null = null) => ({
  key: `u-${name}`,
  name,
  status,
  osName,
  osUnknownReason: osName ? null : 'no_guest_agent',
  lifecycleEnd,
});

describe('desiredAlerts', () => {
  it('fires one alert per kind, host and guest for what is wrong, and none for a healthy guest', () => {
    const alerts = desiredAlerts(
      host([
        guest('ok', 'certified', 'RHEL 9.2', '2032-05-31'),
        guest('bad', 'not-certified', 'Windows Server 2019'),
        guest('who', 'unknown', null),
        guest('old', 'certified', 'RHEL 7.9', '2024-06-30'),
        guest('soon', 'certified', 'Windows Server 2016', '2027-01-12'),
      ]),
      policy,
    );
    expect(alerts.map((a) => [a.kind, a.guestName, a.severity])).toEqual([
      ['guest-not-certified', 'bad', 'critical'],
      ['guest-os-unknown', 'who', 'warning'],
      ['guest-eol', 'old', 'critical'],
      ['guest-eol', 'soon', 'warning'],
    ]);
    expect(alerts[0].key).toBe(alertKey('guest-not-certified', 'kvm-01', 'u-bad'));
    expect(alerts[1].message).toContain('no_guest_agent');
  });

  it('raises agent-error for a partial inventory and host-silent after the silence time', () => {
    const alerts = desiredAlerts(
      host([], {
        partial: true,
        errors: [{ driver: 'libvirt', code: 'VIRSH_NOT_FOUND', message: 'virsh is not installed' }],
        lastContact: '2026-11-26T11:50:00Z',
      }),
      policy,
    );
    expect(alerts.map((a) => [a.kind, a.guestKey])).toEqual([
      ['agent-error', null],
      ['host-silent', null],
    ]);
    expect(alerts[0].message).toContain('VIRSH_NOT_FOUND');
  });
});

describe('alertDelta', () => {
  it('fires what is new, updates what changed severity or wording, and resolves what is gone', () => {
    const desired = desiredAlerts(
      host([guest('bad', 'not-certified', 'WS2019'), guest('old', 'certified', 'RHEL 7.9', '2024-06-30')]),
      policy,
    );
    const firing = [
      { key: desired[1].key, severity: 'warning' as const, message: 'reaches its end of support' },
      { key: alertKey('guest-os-unknown', 'kvm-01', 'u-gone'), severity: 'warning' as const, message: 'x' },
    ];
    const delta = alertDelta(firing, desired);
    expect(delta.fire.map((a) => a.kind)).toEqual(['guest-not-certified']);
    expect(delta.update.map((a) => [a.kind, a.severity])).toEqual([['guest-eol', 'critical']]);
    expect(delta.resolve).toEqual([alertKey('guest-os-unknown', 'kvm-01', 'u-gone')]);
    expect(alertDelta(desired, desired)).toEqual({ fire: [], update: [], resolve: [] });
  });
});
