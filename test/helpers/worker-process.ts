// Workers as child processes (`speech worker`), so tests can kill them the way a crash does.
import { spawn, type ChildProcess } from 'node:child_process';
import { SPEECH_BIN } from './cli';

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  /** SIGKILL: no drain, no clean-up, exactly a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait for a drained exit. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

export async function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [SPEECH_BIN, 'worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Ready once it says it polls.
  const deadline = Date.now() + 30_000;
  while (!/Worker polling/.test(out)) {
    if (child.exitCode !== null) throw new Error(`worker exited at start:\n${out}`);
    if (Date.now() > deadline) throw new Error(`worker did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    output: () => out,
    exited,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
