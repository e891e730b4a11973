import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectPeer } from '../../../test/helpers/agent-peer.js';
import { useCollector, welcomedAgent } from '../../../test/helpers/collector.js';
import { COLLECTOR_CLI, runCli } from '../../../test/helpers/processes.js';

const test = useCollector();

describe('hvmap tokens revoke', () => {
  it('closes the connection using the token within a second (4401, the agent told why) and says so', async () => {
    const { collector, dir } = test;
    const other = await welcomedAgent(collector, 'kvm-02');
    const peer = await welcomedAgent(collector, 'kvm-01');
    const { token } = peer;
    const started = Date.now();
    const cli = await runCli(COLLECTOR_CLI, ['tokens', 'revoke', 'kvm-01', '--db', path.join(dir, 'hvmap.db')]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout.trim()).toBe('revoked kvm-01; closed 1 connection');
    const closed = await peer.closed;
    expect(closed.code).toBe(4401);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await peer.next('error')).toMatchObject({ code: 'TOKEN_REVOKED' });
    // The token is refused from now on; the other agent keeps its connection.
    await expect(connectPeer(collector.agentUrl, token)).rejects.toMatchObject({ status: 401 });
    expect(collector.sessions.isConnected('kvm-02')).toBe(true);
    other.ws.close();
  });

  it('says when the agent held no connection', async () => {
    const { collector, dir } = test;
    collector.tokens.create('kvm-03');
    const cli = await runCli(COLLECTOR_CLI, ['tokens', 'revoke', 'kvm-03', '--db', path.join(dir, 'hvmap.db')]);
    expect(cli.stdout.trim()).toBe('revoked kvm-03; it held no connection');
  });
});
