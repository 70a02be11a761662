/**
 * The store torchrun's elastic agent hosts for its workers (TORCHELASTIC_USE_AGENT_STORE=True),
 * hosted by the reference Python torch with torchrun's own code (test/reference/ddp_ref.py
 * agent-store), for tests that play torchrun's part.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { repoRoot, torchPython, torchPythonEnv } from './python.js';

/** Starts the agent's store on 127.0.0.1:`port`; resolves once it listens. */
export async function startAgentStore(port: number): Promise<{ close: () => void }> {
  const agent = spawn(torchPython(), [join(repoRoot, 'test', 'reference', 'ddp_ref.py'), 'agent-store', String(port)], {
    env: torchPythonEnv(),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const close = (): void => {
    agent.stdin.end();
    agent.kill();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      agent.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      agent.on('close', (c) => reject(new Error(`the agent store exited with ${c}`)));
    });
  } catch (e) {
    close();
    throw e;
  }
  return { close };
}
