import { describe, expect, it } from 'vitest';
import { checkPrefix, nodeMajor, parseOsRelease } from './linux.js';
import { agentLogReason, parseManifest } from './plan.js';
import { checkWindowsPrefix, decodePowershell, powershell, sftpPath } from './windows.js';

describe('plan helpers', () => {
  it("finds the reason in an agent's log: a plain-text crash first, else its last warning", () => {
    const warn =
      '{"level":40,"msg":"cannot connect to the collector; retrying","error":"connect ECONNREFUSED 127.0.0.1:1"}';
    const info = '{"level":30,"msg":"agent started"}';
    expect(agentLogReason(`${info}\n${warn}\n${info}\n`)).toBe(
      'cannot connect to the collector; retrying (connect ECONNREFUSED 127.0.0.1:1)',
    );
    expect(agentLogReason(`${warn}\nhvmap-agent: Error: EACCES\n    at open (node:fs)\n`)).toBe(
      'hvmap-agent: Error: EACCES',
    );
    expect(agentLogReason(`${info}\n`)).toBeNull();
    expect(agentLogReason('')).toBeNull();
  });

  it('reads only manifests hvmap wrote', () => {
    expect(parseManifest('{"product":"hvmap-agent","tokenName":"x","files":[]}')).toMatchObject({ tokenName: 'x' });
    expect(parseManifest('{"product":"other"}')).toBeNull();
    expect(parseManifest('not json')).toBeNull();
  });

  it('reads os-release values, quoted or not', () => {
    expect(parseOsRelease('NAME="CentOS Linux"\nVERSION_ID=7\nPRETTY_NAME=\'x\'\n# c\n')).toEqual({
      NAME: 'CentOS Linux',
      VERSION_ID: '7',
      PRETTY_NAME: 'x',
    });
  });

  it('reads the Node.js major from node --version', () => {
    expect(nodeMajor('v20.11.1')).toBe(20);
    expect(nodeMajor('v8.17.0')).toBe(8);
    expect(nodeMajor(null)).toBeNull();
    expect(nodeMajor('garbage')).toBeNull();
  });

  it('refuses prefixes an uninstall would wreck', () => {
    expect(checkPrefix('/opt/hvmap-agent/', '/root')).toBe('/opt/hvmap-agent');
    for (const bad of ['/', '/opt', '/usr/local', '/root', 'relative/dir', '/opt/../etc', "/opt/it's"]) {
      expect(() => checkPrefix(bad, '/root'), bad).toThrow(/--prefix/);
    }
    expect(checkWindowsPrefix('C:/ProgramData/hvmap-agent')).toBe('C:\\ProgramData\\hvmap-agent');
    for (const bad of ['C:\\ProgramData', 'C:\\Program Files\\hvmap', '\\\\server\\share', 'C:\\x\\..\\Windows']) {
      expect(() => checkWindowsPrefix(bad), bad).toThrow(/--prefix/);
    }
  });

  it('passes PowerShell scripts encoded, and SFTP paths the Win32-OpenSSH way', () => {
    const script = "Get-Item -LiteralPath 'C:\\it''s'";
    expect(decodePowershell(powershell(script))).toBe(script);
    expect(sftpPath('C:\\ProgramData\\hvmap-agent\\agent.token.new')).toBe(
      '/C:/ProgramData/hvmap-agent/agent.token.new',
    );
  });
});
