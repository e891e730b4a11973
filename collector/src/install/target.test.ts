import { describe, expect, it } from 'vitest';
import { defaultTokenName, parseHostsFile, parseTarget, targetLabel } from './target.js';

describe('targets', () => {
  it('reads USER@HOST[:PORT], IPv6 in brackets, and the default user', () => {
    expect(parseTarget('root@kvm01.example.com', 'me')).toEqual({
      user: 'root',
      host: 'kvm01.example.com',
      port: 22,
      name: 'kvm01.example.com',
    });
    expect(parseTarget('admin@10.0.0.5:2222', 'me')).toMatchObject({
      user: 'admin',
      host: '10.0.0.5',
      port: 2222,
      name: '10.0.0.5-2222',
    });
    expect(parseTarget('root@[fd00::5]:2200', 'me')).toMatchObject({
      host: 'fd00::5',
      port: 2200,
      name: 'fd00-5-2200',
    });
    expect(parseTarget('hv01', 'me')).toMatchObject({ user: 'me', host: 'hv01', port: 22 });
  });

  it('says what is wrong with a bad target', () => {
    expect(() => parseTarget('root@host:99999', 'me')).toThrow('port "99999" is not a number from 1 to 65535');
    expect(() => parseTarget('root@fd00::5', 'me')).toThrow('write an IPv6 address as USER@[ADDRESS]:PORT');
    expect(() => parseTarget('root@', 'me')).toThrow('has no valid host');
  });

  it('labels a target as it was written, the port only when not 22', () => {
    expect(targetLabel({ user: 'root', host: 'kvm01', port: 22 })).toBe('root@kvm01');
    expect(targetLabel({ user: 'root', host: 'fd00::5', port: 2200 })).toBe('root@[fd00::5]:2200');
  });

  it('makes token names the collector accepts', () => {
    expect(defaultTokenName('-weird host!', 22)).toBe('weird-host-');
  });

  it('reads a hosts file with comments and per-host settings, naming the line of an error', () => {
    const text = '# estate\nroot@kvm01\n\nadmin@hv02:2222  name=hv02 identity=~/.ssh/hv  # Hyper-V\n';
    expect(parseHostsFile(text, 'me')).toEqual([
      { user: 'root', host: 'kvm01', port: 22, name: 'kvm01' },
      { user: 'admin', host: 'hv02', port: 2222, name: 'hv02', identity: '~/.ssh/hv' },
    ]);
    expect(() => parseHostsFile('root@kvm01\nroot@kvm02 role=db\n', 'me')).toThrow('line 2: unknown setting "role"');
  });
});
