// A real Temporal dev server per test file: the same `temporal server start-dev` the product
// embeds, on a free port, with its database in a temporary DATA_DIR.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { readFileSync } from 'node:fs';
import { serverAlive, startDevServer, stopDevServer, type DevServerInfo } from '../../src/client/dev-server';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestServer {
  address: string;
  dataDir: string;
  info: DevServerInfo;
  /** Stops the server; with `keepData` the database stays for a restart. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  restart(): Promise<void>;
}

/** A free port that leaves room for the Web UI on port + 1000, as the embedded server uses. */
export async function serverPort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p + 1000 < 65000) return p;
  }
}

/** Polls `cond` until it holds, failing with `what` after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startTestServer(opts: { dataDir?: string; headless?: boolean } = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'speech-test-')));
  const port = await serverPort();
  const address = `127.0.0.1:${port}`;
  const start = () => startDevServer({ dataDir, address, namespace: 'default', cliPath: process.env.TEMPORAL_CLI_PATH, headless: opts.headless ?? true });
  let info = await start();
  let stopping = false;
  // A server that dies under a test explains every failure after it: say so, with its log.
  const watch = setInterval(() => {
    if (stopping || serverAlive(info)) return;
    clearInterval(watch);
    let tail = '';
    try {
      tail = readFileSync(info.logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      tail = '(no log)';
    }
    console.error(`\n[test harness] the Temporal dev server on ${address} (pid ${info.pid}) died unexpectedly; last log lines:\n${tail}\n`);
  }, 1000);
  watch.unref();
  return {
    address,
    dataDir,
    get info() {
      return info;
    },
    async stop(o = {}) {
      stopping = true;
      clearInterval(watch);
      await stopDevServer(dataDir);
      if (!o.keepData) await rm(dataDir, { recursive: true, force: true });
    },
    async restart() {
      stopping = true;
      await stopDevServer(dataDir);
      info = await start();
      stopping = false;
    },
  };
}

let quiet = false;
/** Keeps SDK logs of in-process workers out of the test report. */
export function quietRuntime(): void {
  if (quiet) return;
  quiet = true;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
}

export function testTmpDir(prefix = 'speech-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A MockActivityEnvironment that keeps the SDK's failure logs out of the test report. */
export function mockActivityEnv(info: Record<string, unknown> = {}) {
  const env = new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
  return {
    env,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    run<F extends (...args: any[]) => Promise<any>>(fn: F, ...args: Parameters<F>): ReturnType<F> {
      return env.run(fn, ...args) as ReturnType<F>;
    },
  };
}
