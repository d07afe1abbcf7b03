// `npm run bench:local`: the whole pipeline on the local engine against calling faster-whisper
// directly, on the same file, model and threads, in the same run (target ≤ 1.15×); audio minutes
// per wall minute; and the engine's peak memory. Nothing is mocked: a dev server, `speech run`
// with its in-process worker, the engine started by it, ffmpeg.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { readEngineInfo } from '../src/local-engine';
import { MEETING_SENTENCES } from '../test/helpers/audio';
import { speech } from '../test/helpers/cli';
import { ENGINE_PYTHON, makeVoiceConversation } from '../test/helpers/engine';
import { embeddedCliEnvWith } from '../test/helpers/pipeline';
import { freePort } from '../test/helpers/temporal';

const REPEATS = Number(process.env.BENCH_LOCAL_REPEATS ?? 4);
/** Rounds of (pipeline, direct batched, direct sequential), one after the other; the figures are the best of each, and each round's own ratio shows the spread. */
const ROUNDS = Number(process.env.BENCH_LOCAL_ROUNDS ?? 3);
/** The engine's default LOCAL_BATCH_SIZE. */
const BATCH_SIZE = 8;

function peakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  // The engine as it starts by default: two computations at once (two transcription chunks, or
  // a chunk and a diarization job), each on its share of the cores. faster-whisper called
  // directly gets all of those cores.
  const slots = 2;
  const perSlot = Math.max(1, Math.floor(availableParallelism() / slots));
  const threads = String(slots * perSlot);
  const cli = await embeddedCliEnvWith({ LOCAL_ENGINE_PORT: String(await freePort()), LOCAL_THREADS: String(perSlot), LOCAL_CONCURRENCY: String(slots) }, 'bench-local-');
  try {
    // About 2.5 minutes of conversation in the two voices the engine tells apart.
    const turns = Array.from({ length: REPEATS }, () => MEETING_SENTENCES).flat().map((text, i) => ({ speaker: (i % 2 === 0 ? 'A' : 'B') as 'A' | 'B', text }));
    const rec = await makeVoiceConversation({ dir: cli.dir, name: 'bench-meeting', turns });
    console.log(`recording: ${rec.duration.toFixed(1)} s, ${turns.length} turns; faster-whisper tiny.en int8, batch size ${BATCH_SIZE}; engine: ${slots} computations at once × ${perSlot} thread(s); direct call: ${threads} threads`);

    // Warm the dev server and the engine with a first run, so neither start is timed.
    const warm = path.join(cli.dir, 'warm.wav');
    await copyFile(rec.path, warm);
    const w = await speech(['run', warm, '--json'], { env: cli.env, timeoutMs: 600_000 });
    if (w.code !== 0) throw new Error(`warm-up run failed:\n${w.stdout}${w.stderr}`);

    const pipeline: number[] = [];
    const direct: number[] = [];
    const sequential: number[] = [];
    const stageTimes: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const copy = path.join(cli.dir, `run-${i}.wav`);
      await copyFile(rec.path, copy);
      const t0 = Date.now();
      // --force-restart: computed again, not taken from the stage cache (same bytes as the warm-up).
      const r = await speech(['run', copy, '--json', '--force-restart'], { env: cli.env, timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`pipeline run failed:\n${r.stdout}${r.stderr}`);
      pipeline.push((Date.now() - t0) / 1000);
      // Where the time goes: each stage's wall time from the run's history, and the workflow's
      // own span (what a worker that is already up spends), beside the CLI's end-to-end time.
      const id = (JSON.parse(r.stdout) as { runs: { pipeline_id: string }[] }).runs[0]!.pipeline_id;
      const shown = JSON.parse((await speech(['show', id, '--json'], { env: cli.env })).stdout) as {
        stages: { stage: string; duration_ms: number | null }[];
        temporal: { run: { start_time?: string; close_time?: string | null } | null };
      };
      const run = shown.temporal.run;
      const span = run?.start_time && run.close_time ? (Date.parse(run.close_time) - Date.parse(run.start_time)) / 1000 : null;
      stageTimes.push(`workflow ${span !== null ? `${span.toFixed(1)} s` : '?'}; ${shown.stages.map((st) => `${st.stage} ${((st.duration_ms ?? 0) / 1000).toFixed(1)} s`).join(', ')}`);
      // faster-whisper called directly: its batched pipeline (what the engine decodes with) and
      // its sequential transcribe (what faster-whisper's README shows first).
      const directly = (batchSize: string) =>
        (JSON.parse(execFileSync(ENGINE_PYTHON, ['-m', 'speech_engine', 'transcribe', '--threads', threads, '--batch-size', batchSize, '--json', rec.path], { encoding: 'utf8', env: { ...process.env, LOCAL_THREADS: threads } })) as { files: { wall_seconds: number }[] }).files[0]!.wall_seconds;
      direct.push(directly(String(BATCH_SIZE)));
      sequential.push(directly('1'));
    }
    const best = (xs: number[]) => Math.min(...xs);
    const engine = readEngineInfo(cli.dataDir);
    const rss = engine ? peakRssMb(engine.pid) : null;
    console.log(`pipeline (speech run: conversion, diarization and transcription on the engine, merge, export): ${pipeline.map((s) => s.toFixed(1)).join(' s, ')} s`);
    console.log(`faster-whisper directly, batched pipeline (batch ${BATCH_SIZE}; transcription only, model loaded): ${direct.map((s) => s.toFixed(1)).join(' s, ')} s`);
    console.log(`faster-whisper directly, sequential transcribe (transcription only, model loaded):        ${sequential.map((s) => s.toFixed(1)).join(' s, ')} s`);
    for (const [i, t] of stageTimes.entries()) console.log(`  run ${i + 1}: ${t}`);
    console.log(`ratio pipeline / direct, same batched decoding (best of each): ${(best(pipeline) / best(direct)).toFixed(2)}× (target ≤ 1.15×)`);
    console.log(`  each round's own ratio (pipeline / direct batched run just after it): ${pipeline.map((p, i) => `${(p / direct[i]!).toFixed(2)}×`).join(', ')}`);
    console.log(`ratio pipeline / direct sequential transcribe (best of each):  ${(best(pipeline) / best(sequential)).toFixed(2)}× (info)`);
    console.log(`audio minutes per wall minute through the pipeline: ${(rec.duration / best(pipeline)).toFixed(1)}`);
    console.log(`engine peak memory (VmHWM of pid ${engine?.pid}): ${rss !== null ? `${rss.toFixed(0)} MB` : 'unknown'}`);
  } finally {
    await speech(['engine', 'stop'], { env: cli.env }).catch(() => undefined);
    await cli.cleanUp();
    await rm(cli.dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
