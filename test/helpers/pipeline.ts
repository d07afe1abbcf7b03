// Glue for tests that run whole pipelines: the environment a worker or the CLI needs to
// use a test server and the emulators, and checks on what a run produced.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { stopDevServer } from '../../src/client/dev-server';
import type { Emulators } from '../emulators';
import { serverPort, testTmpDir, type TestServer } from './temporal';
import type { Turn } from './audio';
import type { MergedTranscript } from '../../src/domain/types';

export function pipelineEnv(server: Pick<TestServer, 'address' | 'dataDir'>, emus: Emulators, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: 'speech-test',
    DATA_DIR: server.dataDir,
    ...emus.env,
    PYANNOTE_POLL_SECONDS: '0.2',
    HEARTBEAT_TIMEOUT_SECONDS: '5',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/**
 * The check a user would make: every known turn's words carry one speaker, the same
 * speaker for every turn of one voice, and different speakers for the two voices.
 */
export function assertSpeakersMatchTurns(merged: MergedTranscript, turns: Turn[]): void {
  const words = merged.utterances.flatMap((u) => u.words);
  const labelOf: Record<string, string> = {};
  for (const t of turns) {
    const inside = words.filter((w) => (w.start + w.end) / 2 >= t.start && (w.start + w.end) / 2 <= t.end);
    assert.ok(inside.length >= 3, `turn ${t.speaker} ${t.start.toFixed(2)}–${t.end.toFixed(2)} has ${inside.length} words`);
    const labels = new Set(inside.map((w) => w.speaker));
    assert.equal(labels.size, 1, `turn ${t.speaker} ${t.start.toFixed(2)}–${t.end.toFixed(2)} mixes speakers ${[...labels].join(', ')}`);
    const label = [...labels][0]!;
    if (labelOf[t.speaker] === undefined) labelOf[t.speaker] = label;
    assert.equal(label, labelOf[t.speaker], `voice ${t.speaker} got two labels`);
  }
  assert.notEqual(labelOf.A, labelOf.B, 'the two voices got the same label');
}

export async function readMergedJson(file: string): Promise<MergedTranscript> {
  return JSON.parse(await readFile(file, 'utf8')) as MergedTranscript;
}

type CliEnv = { dir: string; dataDir: string; env: NodeJS.ProcessEnv; cleanUp: () => Promise<void> };

/** A folder with a DATA_DIR in it, and an environment for the `speech` CLI built from both. */
async function cliEnvIn(prefix: string, envFor: (address: string, dataDir: string) => NodeJS.ProcessEnv): Promise<CliEnv> {
  const dir = await testTmpDir(prefix);
  const dataDir = path.join(dir, 'data');
  const env = envFor(`127.0.0.1:${await serverPort()}`, dataDir);
  return {
    dir,
    dataDir,
    env,
    cleanUp: async () => {
      await stopDevServer(dataDir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A folder, a DATA_DIR in it and the environment for the `speech` CLI in the embedded default:
 * nothing answers on the address until the first `speech run` starts the dev server there.
 */
export function embeddedCliEnv(emus: Emulators, prefix: string): Promise<CliEnv> {
  return cliEnvIn(prefix, (address, dataDir) => pipelineEnv({ address, dataDir }, emus));
}

/** Like embeddedCliEnv, with no provider configured: every stage runs on the local engine. */
export function embeddedCliEnvWith(extra: Record<string, string>, prefix: string): Promise<CliEnv> {
  return cliEnvIn(prefix, (address, dataDir) => ({
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(OPENAI|PYANNOTE)_/.test(k))),
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: 'speech-test',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    ...extra,
  }));
}
