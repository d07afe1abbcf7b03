// Helpers of the checkpoint-tool tests: a `speech` child process that keeps running (a
// worker), polling until a condition holds, and reading state records.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SPEECH_BIN } from './cli';
import type { StateRecord } from '../../src/domain/state-record';

export interface Background {
  child: ChildProcess;
  output(): string;
  /** Sends the signal and waits for the exit (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Starts `speech ARGS…` and leaves it running. */
export function speechInBackground(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string }): Background {
  const child = spawn(process.execPath, [SPEECH_BIN, ...args], { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => out,
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `probe` until it returns a value other than undefined. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

export function recordPath(dataDir: string, id: string): string {
  return path.join(dataDir, 'checkpoints', `${id}_state.json`);
}

export async function readRecordJson(dataDir: string, id: string): Promise<StateRecord> {
  return JSON.parse(await readFile(recordPath(dataDir, id), 'utf8')) as StateRecord;
}
