// What every command needs: the configuration, a Temporal client (starting the embedded
// dev server when nothing answers locally), and, for `run`, an in-process worker.
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, makeTelemetryFilterString, Runtime, type NativeConnection, type Worker } from '@temporalio/worker';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../config';
import { connectWorker, createWorker, makeVoiceprint, type LocalEngineEndpoint } from '../worker';
import { formatLogEntry } from '../worker-log';
import { SEARCH_ATTRIBUTES } from '../workflows/messages';
import { acceptsConnections, ensureDevServer, isServing, uiPortFor } from './dev-server';
import { UsageError } from './errors';

export interface CliContext {
  config: Config;
  client: Client;
  connection: Connection;
  /** The dev server was started by this command. */
  startedServer: boolean;
  close(): Promise<void>;
}

export function isLocalAddress(address: string): boolean {
  const host = address.split(':')[0] ?? '';
  return host === 'localhost' || host === '127.0.0.1' || host === '::1' || host === '[::1]';
}

export async function connectClient(config: Config, connectTimeoutMs = 5000): Promise<Connection> {
  const t = config.temporal;
  return Connection.connect({
    address: t.address,
    connectTimeout: connectTimeoutMs,
    ...(t.apiKey ? { apiKey: t.apiKey, tls: true } : {}),
    ...(t.tls ? { tls: { clientCertPair: { crt: readFileSync(t.tls.certPath), key: readFileSync(t.tls.keyPath) } } } : {}),
  });
}

/**
 * Connects to Temporal. With `embedded`, a local address where nothing answers gets a
 * dev server started under DATA_DIR (the product's "nothing configured" default).
 */
export async function openContext(opts: { embedded: boolean; env?: NodeJS.ProcessEnv; onServerStart?: (msg: string) => void }): Promise<CliContext> {
  const config = loadConfig(opts.env);
  let startedServer = false;
  if (opts.embedded && isLocalAddress(config.temporal.address) && !config.temporal.apiKey) {
    if (!(await isServing(config.temporal.address, config.temporal.namespace))) {
      opts.onServerStart?.(`Starting the embedded Temporal dev server on ${config.temporal.address} (data in ${path.join(config.dataDir, 'temporal')}) …`);
      const started = await ensureDevServer({ dataDir: config.dataDir, address: config.temporal.address, namespace: config.temporal.namespace, cliPath: config.temporal.cliPath });
      startedServer = started !== null;
    }
  }
  let connection: Connection;
  try {
    connection = await connectClient(config);
  } catch (err) {
    throw new UsageError(
      `Cannot reach the Temporal server at ${config.temporal.address}: ${(err as Error).message}`,
      isLocalAddress(config.temporal.address)
        ? 'Run `speech server start`, or let `speech run` start the embedded server.'
        : 'Check TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TEMPORAL_API_KEY.',
    );
  }
  const client = new Client({ connection, namespace: config.temporal.namespace });
  return {
    config,
    client,
    connection,
    startedServer,
    close: () => connection.close(),
  };
}

/** The Web UI address for a run, when one is known. */
export function webUiLink(config: Config, workflowId: string, runId?: string): string | null {
  const base = config.temporal.uiUrl ?? (isLocalAddress(config.temporal.address) ? `http://localhost:${uiPortFor(config.temporal.address)}` : null);
  if (!base) return null;
  const ns = encodeURIComponent(config.temporal.namespace);
  return `${base.replace(/\/+$/, '')}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}${runId ? `/${runId}` : ''}/history`;
}

/** Whether the pipeline's custom search attributes exist on the server. */
export async function hasSearchAttributes(ctx: CliContext): Promise<boolean> {
  try {
    const res = await ctx.connection.operatorService.listSearchAttributes({ namespace: ctx.config.temporal.namespace });
    const custom = res.customAttributes ?? {};
    return SEARCH_ATTRIBUTES.every((a) => a.name in custom);
  } catch {
    return false;
  }
}

let runtimeInstalled = false;

/** Worker logs go to DATA_DIR/logs/worker.log so they never mix with the CLI's output. */
export function installQuietRuntime(dataDir: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const dir = path.join(dataDir, 'logs');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'worker.log');
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) => {
      const line = formatLogEntry(entry, 'text');
      if (!line) return;
      try {
        appendFileSync(file, `${line}\n`);
      } catch {
        // A full disk (or a removed DATA_DIR) loses the log line, never the run: the run's
        // own failure says what is wrong with DATA_DIR.
      }
    }),
    // The SDK core's own lines (e.g. "Activity not found on completion" after a cancel) go to
    // the same file: printed to the console they would break into the CLI's output.
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }), forward: {} } },
  });
}


/** Seconds the in-process worker's activities get to finish when `speech run` stops. */
export const IN_PROCESS_GRACE_SECONDS = 5;

/** A worker of this process: connected, its workflow code loaded, not yet polling. */
export interface CreatedWorker {
  worker: Worker;
  connection: NativeConnection;
  identity: string;
  /** The engine its activities call, if any. */
  engineUrl: string | null;
}

export async function createInProcessWorker(config: Config, engine?: LocalEngineEndpoint | null): Promise<CreatedWorker> {
  installQuietRuntime(config.dataDir);
  const connection = await connectWorker(config);
  const identity = `${process.pid}@${hostname()} (speech run)`;
  try {
    const worker = await createWorker({ config, connection, shutdownGraceSeconds: IN_PROCESS_GRACE_SECONDS, engine: engine ?? null, identity });
    return { worker, connection, identity, engineUrl: engine?.url ?? null };
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
}

/**
 * The in-process worker, created while `speech run` checks its inputs (connecting and loading
 * the workflow code, 0.3-0.5 s, no longer wait until after those checks), when the embedded
 * server already answers. Null when it does not (the server is started only once the inputs
 * pass) or the creation failed: the worker is then created after the checks, as before, and
 * its failure reported there. A worker created here polls nothing until it is run; one
 * that is not run (every input refused) ends with the process.
 */
export async function createInProcessWorkerEarly(config: Config, engine: LocalEngineEndpoint | null): Promise<CreatedWorker | null> {
  if (!isLocalAddress(config.temporal.address) || config.temporal.apiKey) return null;
  // Nothing (not even the worker's log folder) is made under DATA_DIR unless the server is up.
  if (!(await acceptsConnections(config.temporal.address))) return null;
  return createInProcessWorker(config, engine).catch(() => null);
}

export function runInProcessWorker(created: CreatedWorker): { worker: Worker; identity: string; done: Promise<void>; stop: () => Promise<void> } {
  const { worker, connection, identity } = created;
  const done = worker.run().finally(() => connection.close());
  return {
    worker,
    identity,
    done,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done.catch(() => undefined);
    },
  };
}

export async function startInProcessWorker(config: Config, engine?: LocalEngineEndpoint | null): Promise<{ worker: Worker; identity: string; done: Promise<void>; stop: () => Promise<void> }> {
  return runInProcessWorker(await createInProcessWorker(config, engine));
}

/** `speech voices add`: a voiceprint made by this configuration's diarizer (the worker's code, run here). */
export async function voiceprintOf(config: Config, engine: LocalEngineEndpoint | null, wav: { path: string; sha256: string }, signal?: AbortSignal): Promise<string> {
  return makeVoiceprint(config, engine, wav, signal);
}
