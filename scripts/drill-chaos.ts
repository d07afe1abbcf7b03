// `npm run drill:chaos [-- --seed N --files N --parallel N --no-hang --keep …]`: the chaos drill
// at full size (test/helpers/chaos.ts says what it does and what it checks); `--files 12` is the
// bounded size meant for `npm test` once it passes (see the README). Exit code 0 when it passes, 1 when not,
// 130 when interrupted; the seed it prints runs the same kills and fault decisions again.
import { parseArgs } from 'node:util';
import { runChaosDrill } from '../test/helpers/chaos';

const USAGE = `usage: npm run drill:chaos [-- options]
  --seed N        seed of the recordings, kills and faults (random by default; printed)
  --files N       recordings (default 24, at least 12)
  --chunked N     how many of them are long enough to be chunked (default 8)
  --parallel N    runs in flight at once (speech run --parallel; default 12)
  --chunked-turns A-B  sentences in a chunked recording (default 9-12: 35–50 s)
  --no-hang       leave the hang fault out (a hung request holds its activity until a kill)
  --kill-every A-B  seconds between kills, drawn uniformly (default 3-8)
  --heartbeat-timeout S  HEARTBEAT_TIMEOUT_SECONDS for every activity (default: the product's per-activity ones)
  --keep          keep the drill's folder (recordings, both DATA_DIRs) and print where`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      files: { type: 'string', default: '24' },
      chunked: { type: 'string', default: '8' },
      parallel: { type: 'string', default: '12' },
      'no-hang': { type: 'boolean', default: false },
      'kill-every': { type: 'string', default: '3-8' },
      'chunked-turns': { type: 'string', default: '9-12' },
      'heartbeat-timeout': { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const int = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected a whole number ≥ ${min}, got "${v}"`);
    return n;
  };
  const range = (name: string, v: string | undefined, min: number): [number, number] => {
    const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(v ?? '');
    if (!m || Number(m[1]) < min || Number(m[2]) < Number(m[1])) throw new Error(`--${name}: expected MIN-MAX (MIN ≥ ${min}) such as 3-8, got "${v}"`);
    return [Number(m[1]), Number(m[2])];
  };
  const files = int('files', values.files, 12)!;
  const every = range('kill-every', values['kill-every'], 0.1);
  const stop = new AbortController();
  // An interrupted drill ends what it started, then fails.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`drill:chaos: ${sig}: stopping and cleaning up`);
      process.exitCode = 130;
      stop.abort();
      setTimeout(() => process.exit(130), 60_000).unref();
    });
  }
  const outcome = await runChaosDrill({
    files,
    chunkedFiles: Math.min(files, int('chunked', values.chunked, 1)!),
    parallel: int('parallel', values.parallel, 1),
    seed: int('seed', values.seed, 0),
    hang: !values['no-hang'],
    killEveryMs: [every[0] * 1000, every[1] * 1000],
    chunkedTurns: range('chunked-turns', values['chunked-turns'], 2),
    heartbeatTimeoutSeconds: int('heartbeat-timeout', values['heartbeat-timeout'], 2),
    keep: values.keep,
    chaosTimeoutMs: 20 * 60_000,
    signal: stop.signal,
  });
  return outcome.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(process.exitCode ?? code),
  (err: Error) => {
    console.error(`drill:chaos: ${err.message}`);
    console.error(USAGE);
    process.exit(1);
  },
);
