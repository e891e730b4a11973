/** Stable codes of everything `hvmap install` / `uninstall` can report for one host. */
export type InstallErrorCode =
  | 'HOST_KEY_UNKNOWN'
  | 'HOST_KEY_CHANGED'
  | 'HOST_KEY_REVOKED'
  | 'SSH_UNREACHABLE'
  | 'SSH_AUTH_FAILED'
  | 'SSH_FAILED'
  | 'OS_UNSUPPORTED'
  | 'NODE_MISSING'
  | 'NODE_TOO_OLD'
  | 'NOT_PRIVILEGED'
  | 'PREFIX_INVALID'
  | 'PREFIX_FOREIGN'
  | 'TOKEN_NAME_TAKEN'
  | 'TOKEN_INVALID'
  | 'STEP_FAILED'
  | 'NO_HELLO'
  | 'NOT_REMOVED';

/** A failure on one host: its code is stable (scripts match on it), its message says what to do. */
export class InstallError extends Error {
  constructor(
    readonly code: InstallErrorCode,
    message: string,
    /** Extra facts for callers (the fingerprint of an unknown host key, for one). */
    readonly details: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'InstallError';
  }
}
