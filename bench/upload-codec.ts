// `npm run bench:codecs`: what compact uploads cost in accuracy and save in bytes. The same
// real speech (two espeak-ng voices) is converted to the pipeline's 16 kHz WAV, encoded in each
// upload format by the product's own encoder, and sent through the product's own clients to the
// local engine (faster-whisper tiny.en and its diarizer): word error rate against the script,
// speaker attribution against the known turns, and bytes per audio hour, each beside the WAV.
// Targets (issue 12): ≤ 30 MB per audio hour per provider at the default codec, WER no more
// than 0.02 worse than the WAV.
import { mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_UPLOAD, uploadExtension, uploadLabel, type UploadFormat } from '../src/domain/upload-format';
import { createFfmpegProcessor } from '../src/providers/ffmpeg';
import { createOpenAITranscriber } from '../src/providers/openai-transcriber';
import { createPyannoteDiarizer } from '../src/providers/pyannote-diarizer';
import type { SpeakerTurn } from '../src/domain/types';
import { MEETING_SENTENCES, type Recording } from '../test/helpers/audio';
import { makeVoiceConversation, startEngine, wordErrorRate } from '../test/helpers/engine';

const FORMATS: UploadFormat[] = [
  { codec: 'wav', bitrateKbps: null },
  { codec: 'flac', bitrateKbps: null },
  { codec: 'opus', bitrateKbps: 16 },
  { codec: 'opus', bitrateKbps: 24 },
  { codec: 'opus', bitrateKbps: 32 },
  { codec: 'opus', bitrateKbps: 32, effort: 5 },
  { codec: 'opus', bitrateKbps: 32, effort: 10 },
  { codec: 'mp3', bitrateKbps: 32 },
  { codec: 'mp3', bitrateKbps: 48 },
  { codec: 'mp3', bitrateKbps: 48, effort: 3 },
];

/** Share of each reference turn's time that the diarization gives the turn's majority label, and whether labels map one to one. */
function speakerAttribution(rec: Recording, turns: SpeakerTurn[]): number {
  let agree = 0;
  let total = 0;
  const votes = new Map<string, Map<string, number>>();
  for (const t of rec.turns) {
    for (const d of turns) {
      const o = Math.min(t.end, d.end) - Math.max(t.start, d.start);
      if (o <= 0) continue;
      const v = votes.get(t.speaker) ?? new Map<string, number>();
      v.set(d.speaker, (v.get(d.speaker) ?? 0) + o);
      votes.set(t.speaker, v);
    }
  }
  const labelOf = new Map([...votes].map(([ref, v]) => [ref, [...v].sort((a, b) => b[1] - a[1])[0]?.[0]]));
  for (const t of rec.turns) {
    total += t.end - t.start;
    for (const d of turns) if (d.speaker === labelOf.get(t.speaker)) agree += Math.max(0, Math.min(t.end, d.end) - Math.max(t.start, d.start));
  }
  return total > 0 ? agree / total : 0;
}

async function main(): Promise<void> {
  const dir = path.join(tmpdir(), `bench-upload-${process.pid}`);
  await mkdir(dir, { recursive: true });
  const engine = await startEngine({ env: { LOCAL_CONCURRENCY: '1' } });
  try {
    const turns = [...MEETING_SENTENCES, ...MEETING_SENTENCES].map((text, i) => ({ speaker: (i % 2 === 0 ? 'A' : 'B') as 'A' | 'B', text }));
    const rec = await makeVoiceConversation({ dir, name: 'codec-meeting', turns });
    const reference = turns.map((t) => t.text).join(' ');
    const media = createFfmpegProcessor();
    const wav = path.join(dir, 'converted.wav');
    await media.toWav16kMono(rec.path, wav, {});
    const transcriber = createOpenAITranscriber({ apiKey: 'local-engine', baseUrl: engine.openaiUrl });
    const diarizer = createPyannoteDiarizer({ apiKey: 'local-engine', baseUrl: engine.origin, model: 'precision-2' });
    console.log(`recording: ${rec.duration.toFixed(1)} s, ${turns.length} turns (en-us and en-us+f3); local engine: faster-whisper tiny.en, its diarizer`);
    console.log('format          MB/audio hour   WER     ΔWER vs wav   speaker attribution   encode wall per audio hour');
    let wavWer = 0;
    for (const f of FORMATS) {
      const file = path.join(dir, `upload-${uploadLabel(f)}.${uploadExtension(f)}`);
      const t0 = Date.now();
      const { bytes } = await media.encodeUpload(wav, file, { format: f });
      const encodeMs = Date.now() - t0;
      const t = await transcriber.transcribe({ file, fileName: path.basename(file), seconds: rec.duration, model: 'whisper-1', language: 'en', prompt: null });
      const wer = wordErrorRate(reference, t.text);
      if (f.codec === 'wav') wavWer = wer;
      const url = await diarizer.upload(file, `media://bench/${path.basename(file)}`);
      const { jobId } = await diarizer.submit(url, { numSpeakers: null, minSpeakers: null, maxSpeakers: null });
      let job = await diarizer.poll(jobId);
      while (job.status !== 'succeeded' && job.status !== 'failed' && job.status !== 'canceled') {
        await new Promise((r) => setTimeout(r, 300));
        job = await diarizer.poll(jobId);
      }
      const attribution = speakerAttribution(rec, job.turns ?? []);
      const mbPerHour = ((bytes / rec.duration) * 3600) / 1e6;
      const defaults = Object.entries(DEFAULT_UPLOAD).filter(([, d]) => uploadLabel(d) === uploadLabel(f)).map(([p]) => p);
      console.log(
        `${uploadLabel(f).padEnd(15)} ${mbPerHour.toFixed(1).padStart(8)} MB    ${wer.toFixed(3)}   ${(wer - wavWer >= 0 ? '+' : '') + (wer - wavWer).toFixed(3)}        ${(attribution * 100).toFixed(1).padStart(5)} %            ${((encodeMs / rec.duration) * 3600 / 1000).toFixed(1)} s${defaults.length ? `   ← default for ${defaults.join(', ')}` : ''}`,
      );
      await stat(file);
    }
    console.log('targets: ≤ 30 MB per audio hour per provider at the default codec; WER at most 0.02 worse than the WAV');
  } finally {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
