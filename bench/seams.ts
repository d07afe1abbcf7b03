// `npm run bench:seams`: what cutting a recording into more, shorter chunks costs in words, with
// real speech recognition (the local engine, faster-whisper tiny.en) on a conversation of
// espeak-ng voices whose words are known. The chunks go through the product's own activities
// (plan at silences, transcribe each chunk prompted with the one before it in its lane, stitch),
// without Temporal: only the plan differs between the rows.
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { makeConvertAudio } from '../src/activities/convert';
import { makeTranscriptionActivities } from '../src/activities/transcribe';
import { laneRanges } from '../src/domain/chunk-plan';
import type { ArtifactRef, Transcript } from '../src/domain/types';
import { createFsArtifactStore, sha256File } from '../src/providers/artifact-store';
import { createFfmpegProcessor } from '../src/providers/ffmpeg';
import { createOpenAITranscriber } from '../src/providers/openai-transcriber';
import { makeVoiceConversation, normaliseWords, startEngine, wordErrorRate } from '../test/helpers/engine';
import { mockActivityEnv } from '../test/helpers/temporal';

interface Plan {
  label: string;
  maxChunkSeconds: number;
  lanes: number;
  chunksPerLane: number;
}

const SUBJECTS = ['The north team', 'Our new supplier', 'The finance group', 'Maria from sales', 'The design office', 'Our biggest customer', 'The night shift', 'The legal department', 'Peter in logistics', 'The support desk', 'The marketing crew', 'Our partner in Lisbon'];
const VERBS = ['reviewed', 'approved', 'delayed', 'finished', 'questioned', 'rewrote', 'signed', 'moved', 'printed', 'rejected'];
const OBJECTS = ['the quarterly report', 'the budget draft', 'the delivery schedule', 'the hiring plan', 'the safety checklist', 'the travel policy', 'the product launch', 'the warehouse lease', 'the training course', 'the price list', 'the annual survey'];
const WHEN = ['on Monday', 'last week', 'before the holiday', 'this morning', 'after lunch', 'yesterday evening', 'during the audit', 'at the last minute'];
const WHY = ['because the truck was late', 'after a long discussion', 'so we can plan ahead', 'without asking anyone', 'as the director wanted', 'to save some money', 'while the system was down', 'for the new customers'];

/** `n` different sentences (deterministic), made of plain words whisper spells one way. */
function distinctSentences(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    // Strides coprime with each list's length walk through the combinations without repeats.
    const pick = <T>(xs: readonly T[], stride: number) => xs[(i * stride + Math.floor(i / xs.length)) % xs.length]!;
    out.push(`${pick(SUBJECTS, 5)} ${pick(VERBS, 3)} ${pick(OBJECTS, 7)} ${pick(WHEN, 3)} ${pick(WHY, 5)}.`);
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '20' } } });
  const minutes = Number(values.minutes);
  const dir = path.join(tmpdir(), `bench-seams-${process.pid}`);
  await mkdir(dir, { recursive: true });
  const engine = await startEngine({ env: { LOCAL_CONCURRENCY: '1' } });
  try {
    // About `minutes` of conversation in the two voices, every sentence known and none repeated:
    // a chunk prompted with the words before it must not meet the same sentence again (whisper
    // skips speech that repeats its prompt, which is not what a real meeting does).
    const turns = distinctSentences(Math.max(4, Math.round((minutes * 60) / 4.2))).map((text, i) => ({ speaker: (i % 2 === 0 ? 'A' : 'B') as 'A' | 'B', text }));
    const rec = await makeVoiceConversation({ dir, name: 'seams-meeting', turns });
    const reference = turns.map((t) => t.text).join(' ');
    const refWords = normaliseWords(reference).length;
    const store = createFsArtifactStore();
    const media = createFfmpegProcessor();
    const { sha256 } = await sha256File(rec.path);
    const audio = await mockActivityEnv().run(makeConvertAudio({ media, store }), { inputFile: rec.path, inputSha256: sha256, interimDir: path.join(dir, 'interim') });
    const duration = rec.duration;
    console.log(`recording: ${(duration / 60).toFixed(1)} min, ${turns.length} turns, ${refWords} words (en-us and en-us+f3); local engine: faster-whisper tiny.en, whisper-1 style requests`);
    const plans: Plan[] = [
      { label: 'longest chunks (1 lane)', maxChunkSeconds: 3600, lanes: 1, chunksPerLane: 1 },
      { label: '2 lanes, 2 per lane (earlier plan)', maxChunkSeconds: 600, lanes: 2, chunksPerLane: 2 },
      { label: '2 lanes, 8 per lane (default)', maxChunkSeconds: 600, lanes: 2, chunksPerLane: 8 },
      { label: '8 lanes, 8 per lane (default)', maxChunkSeconds: 600, lanes: 8, chunksPerLane: 8 },
    ];
    console.log('plan                                  chunks   median chunk   seams (prompted)   words   WER     ΔWER vs longest   seconds');
    let base = 0;
    for (const p of plans) {
      const t0 = Date.now();
      const interimDir = path.join(dir, `run-${p.label.replace(/\W+/g, '-')}`);
      const acts = makeTranscriptionActivities({ store, transcriber: () => createOpenAITranscriber({ apiKey: 'local-engine', baseUrl: engine.openaiUrl }), chunksPerLane: p.chunksPerLane, transcriptionService: { provider: 'local', endpoint: '' } });
      const plan = await mockActivityEnv().run(acts.planTranscription, { audio, interimDir, model: 'whisper-1', maxChunkSeconds: p.maxChunkSeconds, lanes: p.lanes });
      const results: ArtifactRef[] = new Array(plan.chunks.length);
      // As the workflow runs them: each lane a contiguous run, each chunk after a lane's first
      // prompted with the words of the one before it (one lane at a time here: the engine
      // computes one request at a time anyway).
      for (const { from, to } of laneRanges(plan.chunks.length, p.lanes)) {
        for (let i = from; i < to; i++) {
          results[i] = await mockActivityEnv().run(acts.transcribeChunk, {
            audio,
            chunk: plan.chunks[i]!,
            totalChunks: plan.chunks.length,
            interimDir,
            model: 'whisper-1',
            language: 'en',
            previousChunk: i > from ? results[i - 1]! : null,
            reuseCached: false,
          });
        }
      }
      const assembled = await mockActivityEnv().run(acts.assembleTranscript, { chunks: results, interimDir, duration });
      const t = await store.readJson<Transcript>(assembled);
      const wer = wordErrorRate(reference, t.words.map((w) => w.word).join(' '));
      if (p === plans[0]) base = wer;
      const lens = plan.chunks.map((c) => c.end - c.start).sort((a, z) => a - z);
      const seams = plan.chunks.length - 1;
      const prompted = seams - (Math.min(p.lanes, plan.chunks.length) - 1);
      console.log(
        `${p.label.padEnd(37)} ${String(plan.chunks.length).padStart(6)}   ${lens[Math.floor(lens.length / 2)]!.toFixed(0).padStart(8)} s     ${String(seams).padStart(5)} (${String(prompted).padStart(3)})        ${String(t.words.length).padStart(5)}   ${wer.toFixed(3)}   ${(wer - base >= 0 ? '+' : '') + (wer - base).toFixed(3)}                 ${((Date.now() - t0) / 1000).toFixed(0)}`,
      );
    }
    console.log(`reference words: ${refWords}. Seams are cut in silences; a seam at a lane's start gets no prompt (the lane's first chunk).`);
  } finally {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
