/**
 * The agent as one JavaScript file, built with esbuild when `hvmap install` runs (a fraction of a
 * second, in memory: nothing to keep in step with `npm run build`). It runs with a plain
 * `node dist/hvmap-agent.js` on Node.js >= 18; the agent has no native dependencies.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The files uploaded to a host: `package.json` and `dist/hvmap-agent.js` under the install prefix. */
export interface AgentBundle {
  version: string;
  script: Buffer;
  /**
   * The agent reads its version from `../package.json` beside its code, so the bundle keeps the
   * package's layout; `"type": "module"` also makes Node run the ESM bundle as a plain `.js` file.
   */
  packageJson: Buffer;
}

/** The minimum Node.js major the bundle targets and the installer requires on a host. */
export const MIN_NODE_MAJOR = 18;

// collector/src/install and collector/dist/install are both three levels below the workspace root.
const WORKSPACE = fileURLToPath(new URL('../../../', import.meta.url));

/** Builds the bundle from the agent's TypeScript sources, or from its build when sources are absent. */
export async function buildAgentBundle(workspace: string = WORKSPACE): Promise<AgentBundle> {
  const source = (rel: string, built: string) => {
    const file = `${workspace}${rel}`;
    return existsSync(file) ? file : `${workspace}${built}`;
  };
  const entry = source('agent/src/cli.ts', 'agent/dist/cli.js');
  const shared = source('shared/src/index.ts', 'shared/dist/index.js');
  const { version } = JSON.parse(readFileSync(`${workspace}agent/package.json`, 'utf8')) as { version: string };
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: `node${MIN_NODE_MAJOR}`,
    format: 'esm',
    write: false,
    outfile: 'hvmap-agent.js',
    logLevel: 'silent',
    // ws loads these optional native speed-ups inside try/catch; the agent runs without them.
    external: ['bufferutil', 'utf-8-validate'],
    // Bundled CommonJS dependencies (pino, ws, systeminformation) call require() for Node built-ins,
    // which an ESM file lacks: give them one.
    banner: {
      js: "import { createRequire as __hvmapCreateRequire } from 'node:module'; const require = __hvmapCreateRequire(import.meta.url);",
    },
    plugins: [
      {
        name: 'hvmap-shared',
        setup(b) {
          // The same shared code the agent was tested with, not whatever build sits in shared/dist.
          b.onResolve({ filter: /^@hvmap\/shared$/ }, () => ({ path: shared }));
        },
      },
    ],
  });
  const script = result.outputFiles.find((f) => f.path.endsWith('.js'));
  if (!script) throw new Error('esbuild produced no agent bundle');
  const packageJson = {
    name: 'hvmap-agent',
    version,
    private: true,
    type: 'module',
    description: 'hvmap-agent as one file, installed by hvmap install',
  };
  return {
    version,
    script: Buffer.from(script.contents),
    packageJson: Buffer.from(`${JSON.stringify(packageJson, null, 2)}\n`),
  };
}
