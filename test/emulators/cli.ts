/**
 * Runs both provider emulators as a standalone process, for the offline demo, the
 * benchmark and manual checks. Prints the environment lines to use, then serves until
 * SIGINT/SIGTERM. Faults can be preset here or posted later to /__emulator/faults.
 */
import { parseArgs } from 'node:util';
import { faultLabel, parseFaultSpec, parseRandomFaultSpec, type FaultRule } from './faults';
import { startEmulators } from './index';

const PYANNOTE_ENDPOINTS = new Set(['test', 'media', 'upload', 'diarize', 'voiceprint', 'identify', 'jobs']);

const USAGE = `usage: tsx test/emulators/cli.ts [options]
  --openai-port N                 default 18080 (0 = any free port)
  --pyannote-port N               default 18081
  --host H                        default 127.0.0.1
  --latency-fixed-ms N            added to every transcription and job
  --latency-per-audio-second-ms N per second of audio
  --fault endpoint:what[:times[:retryAfter]][:name=value...]
                                  repeatable; what = status code, hang, reset, fail-job or
                                  delay=MS; endpoints: transcriptions (openai), test, media,
                                  upload, diarize, voiceprint, identify, jobs (pyannote); named
                                  fields of a status fault: retryAfterSeconds, retryAfterMs,
                                  shouldRetry=true|false, code, message
  --random-faults P[:kind|kind…[:seed]]
                                  faults at random at rate P on every endpoint of both
                                  emulators, e.g. 0.05:429|500|503|reset|hang:42 (kinds as
                                  for --fault; default 429|500|503|reset; seed random if left
                                  out, printed at start; pyannote uses seed + 1)
  --upload-mbit N                 one upload link of N Mbit/s shared by both emulators (default unlimited)
  --log-dir DIR                   append request logs as JSON lines (openai.jsonl, pyannote.jsonl)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'openai-port': { type: 'string', default: '18080' },
      'pyannote-port': { type: 'string', default: '18081' },
      host: { type: 'string', default: '127.0.0.1' },
      'latency-fixed-ms': { type: 'string' },
      'latency-per-audio-second-ms': { type: 'string' },
      fault: { type: 'string', multiple: true, default: [] },
      'random-faults': { type: 'string' },
      'upload-mbit': { type: 'string' },
      'log-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected a non-negative number, got "${v}"`);
    return n;
  };
  const latency = {
    fixedMs: num('latency-fixed-ms', values['latency-fixed-ms']),
    perAudioSecondMs: num('latency-per-audio-second-ms', values['latency-per-audio-second-ms']),
  };
  const faults: FaultRule[] = (values.fault ?? []).map(parseFaultSpec);
  const random = values['random-faults'] !== undefined ? parseRandomFaultSpec(values['random-faults']) : null;
  const logDir = values['log-dir'];

  const uploadMbit = num('upload-mbit', values['upload-mbit']);
  const emulators = await startEmulators({
    ...(uploadMbit ? { uploadBytesPerSecond: (uploadMbit * 1e6) / 8 } : {}),
    openai: { port: num('openai-port', values['openai-port']), host: values.host, latency, ...(logDir ? { logFile: `${logDir}/openai.jsonl` } : {}) },
    pyannote: { port: num('pyannote-port', values['pyannote-port']), host: values.host, latency, ...(logDir ? { logFile: `${logDir}/pyannote.jsonl` } : {}) },
  });
  for (const f of faults) (PYANNOTE_ENDPOINTS.has(f.endpoint) ? emulators.pyannote : emulators.openai).faults.add(f);
  if (random) {
    const seed = random.seed ?? Math.floor(Math.random() * 2 ** 31);
    emulators.openai.faults.random({ ...random, seed });
    emulators.pyannote.faults.random({ ...random, seed: seed + 1 });
    console.error(`random faults: ${random.probability} of requests, ${random.kinds.map(faultLabel).join(', ')}, seed ${seed}`);
  }

  // Lines to paste as they are into the shell that runs `speech`.
  for (const [k, v] of Object.entries(emulators.env)) console.log(`export ${k}=${v}`);
  console.error(`emulators ready (admin: ${emulators.openai.url.replace(/\/v1$/, '')}/__emulator/, ${emulators.pyannote.url}/__emulator/); Ctrl-C to stop`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`${signal}: stopping emulators`);
    emulators.close().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err) => {
  console.error(`emulators: ${(err as Error).message}`);
  console.error(USAGE);
  process.exit(1);
});
