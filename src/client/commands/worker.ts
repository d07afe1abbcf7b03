// `speech worker`: a long-running worker. SIGINT/SIGTERM drain it (running activities get a
// grace period); a second signal exits at once, and Temporal retries what was in flight.
import { Runtime, DefaultLogger, makeTelemetryFilterString } from '@temporalio/worker';
import { loadConfig } from '../../config';
import { connectWorker, createWorker } from '../../worker';
import { EXIT } from '../errors';
import { describeProviders, ensureEngine, superviseEngine, usesLocalEngine } from '../../local-engine';

export async function workerCommand(flags: { graceSeconds?: string; json?: boolean }): Promise<number> {
  const config = loadConfig();
  const level = config.logLevel === 'trace' ? 'TRACE' : config.logLevel === 'debug' ? 'DEBUG' : config.logLevel === 'warn' ? 'WARN' : config.logLevel === 'error' ? 'ERROR' : 'INFO';
  Runtime.install({
    logger: new DefaultLogger(level),
    // Signals are ours to handle: the first drains, the second exits.
    shutdownSignals: [],
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
  });
  const grace = flags.graceSeconds !== undefined ? Number(flags.graceSeconds) : 30;
  const engine = usesLocalEngine(config) ? await ensureEngine(config, (m) => console.error(m)) : null;
  const unwatch = engine ? superviseEngine(config, (m) => console.error(m)) : () => undefined;
  console.error(`Stages: ${describeProviders(config, engine)}.`);
  const connection = await connectWorker(config);
  const worker = await createWorker({ config, connection, shutdownGraceSeconds: Number.isFinite(grace) ? grace : 30, engine });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      console.error(`${sig}: draining the worker (up to ${grace} s for running activities); send it again to exit now.`);
      worker.shutdown();
    } else {
      console.error(`${sig} again: exiting now; Temporal will retry the activities that were running.`);
      process.exit(130);
    }
  };
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, onSignal);
  console.error(`Worker polling task queue "${config.temporal.taskQueue}" on ${config.temporal.address} (namespace ${config.temporal.namespace}).`);
  try {
    await worker.run();
  } finally {
    unwatch();
    await connection.close();
  }
  return EXIT.ok;
}
