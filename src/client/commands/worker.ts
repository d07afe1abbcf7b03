// `speech worker`: a long-running worker. SIGINT/SIGTERM drain it (running activities get a
// grace period); a second signal exits at once, and Temporal retries what was in flight.
import { Runtime, DefaultLogger, makeTelemetryFilterString } from '@temporalio/worker';
import { loadConfig } from '../../config';
import { connectWorker, createWorker } from '../../worker';
import { formatLogEntry } from '../../worker-log';
import { EXIT } from '../errors';
import { describeProviders, ensureEngine, superviseEngine, usesLocalEngine } from '../../local-engine';

export async function workerCommand(flags: { graceSeconds?: string; json?: boolean }): Promise<number> {
  const config = loadConfig();
  const level = config.logLevel === 'trace' ? 'TRACE' : config.logLevel === 'debug' ? 'DEBUG' : config.logLevel === 'warn' ? 'WARN' : config.logLevel === 'error' ? 'ERROR' : 'INFO';
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      const line = formatLogEntry(entry, config.logFormat);
      if (line) process.stderr.write(`${line}\n`);
    }),
    // Signals are ours to handle: the first drains, the second exits.
    shutdownSignals: [],
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
  });
  // The worker's own notes, in the same format as the SDK's lines (LOG_FORMAT).
  const note = (message: string, level: 'INFO' | 'WARN' = 'INFO') => {
    const line = formatLogEntry({ level, message, meta: {}, timestampNanos: BigInt(Date.now()) * 1_000_000n }, config.logFormat);
    if (line) process.stderr.write(`${line}\n`);
  };
  const grace = flags.graceSeconds !== undefined ? Number(flags.graceSeconds) : 30;
  const engine = usesLocalEngine(config) ? await ensureEngine(config, (m) => note(m)) : null;
  const unwatch = engine ? superviseEngine(config, (m) => note(m, 'WARN')) : () => undefined;
  note(`Stages: ${describeProviders(config, engine)}.`);
  const connection = await connectWorker(config);
  const worker = await createWorker({ config, connection, shutdownGraceSeconds: Number.isFinite(grace) ? grace : 30, engine });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      note(`${sig}: draining the worker (up to ${grace} s for running activities); send it again to exit now.`, 'WARN');
      worker.shutdown();
    } else {
      note(`${sig} again: exiting now; Temporal will retry the activities that were running.`, 'WARN');
      process.exit(130);
    }
  };
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, onSignal);
  note(`Worker polling task queue "${config.temporal.taskQueue}" on ${config.temporal.address} (namespace ${config.temporal.namespace}).`);
  try {
    await worker.run();
  } finally {
    unwatch();
    await connection.close();
  }
  return EXIT.ok;
}
