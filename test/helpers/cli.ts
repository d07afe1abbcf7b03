// Runs the real `speech` executable as a child process.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import path from 'node:path';

export const SPEECH_BIN = path.resolve(__dirname, '..', '..', 'bin', 'speech.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface SpeechOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Called with the child as soon as it is spawned (e.g. to kill it on an outside clean-up). */
  onSpawn?: (child: ChildProcessByStdio<null, Readable, Readable>) => void;
}

export function speech(args: string[], opts: SpeechOptions): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SPEECH_BIN, ...args], { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`speech ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 120_000} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
