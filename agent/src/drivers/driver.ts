import type { Guest, Hypervisor, ReportError } from '@hvmap/shared';
import type { Runner } from '../runner.js';

/** What one driver found. A driver that fails part-way returns what it has plus its errors. */
export interface GuestScan {
  guests: Guest[];
  errors: ReportError[];
}

/** A driver watching its hypervisor for changes. */
export interface Watch {
  /** Resolves with why the watch ended (the program stopped, could not start, or lost its connection). */
  readonly ended: Promise<string>;
  stop(): void;
}

/** One kind of hypervisor: is it here, what is it, which guests does it run. */
export interface Driver {
  readonly name: string;
  detect(run: Runner): Promise<boolean>;
  hypervisor(run: Runner): Promise<Hypervisor>;
  guests(run: Runner): Promise<GuestScan>;
  /**
   * Where the hypervisor publishes changes: calls `onChange` with what changed (a guest started,
   * stopped, defined, its agent connected) until stopped. Undefined when this runner cannot keep a
   * program running.
   */
  watch?(run: Runner, onChange: (what: string) => void): Watch | undefined;
}

/** An error with a stable code, for failures a driver cannot work around (e.g. VIRSH_NOT_FOUND). */
export class DriverError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DriverError';
  }
}
