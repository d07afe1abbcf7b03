// Helpers for the services the CLI keeps in the background (the embedded Temporal dev server,
// the local speech engine): is a pid alive, signal its process group, the end of its log.
import { existsSync, readFileSync } from 'node:fs';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Signals the process group the service leads (it was started detached), else the process. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

export function tail(file: string, lines = 15): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

/**
 * Whether `pid` is alive and is the process whose command line holds every one of `args`.
 * Pids are reused (quickly, where pid_max is 32768), and signalling a reused pid's process group
 * would hit an unrelated program. Without /proc (macOS) the pid check is all there is.
 */
export function processRunsWith(pid: number, ...args: string[]): boolean {
  if (!processAlive(pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.every((a) => cmdline.includes(a));
  } catch {
    return process.platform !== 'linux';
  }
}
