/**
 * Test audio built from real tools: espeak-ng speech, sox trimming, ffmpeg transcoding.
 * Recordings are assembled sample-exactly in Node, so the turn times returned are the
 * construction's ground truth, not a measurement. Nothing is cached: callers pass dirs.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, promises as fsp } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { wavHeader as pcmWavHeader } from '../../src/providers/wav';

export type SpeakerId = 'A' | 'B';

export interface TurnSpec {
  speaker: SpeakerId;
  text: string;
}

export interface Turn extends TurnSpec {
  /** Seconds from the start of the file, exact from construction. */
  start: number;
  end: number;
}

export interface Recording {
  path: string;
  duration: number;
  turns: Turn[];
}

export const DEFAULT_TURNS: readonly TurnSpec[] = [
  { speaker: 'A', text: 'Good morning and thank you for joining the meeting today.' },
  { speaker: 'B', text: 'Thanks for having me, I am happy to be here.' },
  { speaker: 'A', text: 'Let us start with the quarterly results and the budget.' },
  { speaker: 'B', text: 'Sales grew by ten percent while costs stayed flat.' },
];

/** A twelve-sentence planning meeting, for tests and benchmarks that need longer speech. */
export const MEETING_SENTENCES: readonly string[] = [
  'Welcome back to the weekly planning meeting everyone.',
  'Thank you, I have the numbers from last week ready.',
  'Good, please start with the sales figures for the north.',
  'Sales in the north grew by twelve percent this quarter.',
  'That is better than we expected in the spring forecast.',
  'The south region was flat because of the late delivery.',
  'What do we need to fix the delivery problem next month?',
  'We need two more drivers and a second loading dock.',
  'Let us put that into the budget request for next year.',
  'I will write the request and send it round on Friday.',
  'Thank you, that settles the main points for today.',
  'Great, talk to you all again next week then.',
];

/** Low male and high female espeak-ng voices: about an octave apart in pitch. */
const VOICES: Record<SpeakerId, string[]> = {
  A: ['-v', 'en+m3', '-p', '20'],
  B: ['-v', 'en+f3', '-p', '85'],
};

/** Runs a tool, rejecting with its stderr on a non-zero exit. */
export function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

export interface Pcm16 {
  sampleRate: number;
  channels: number;
  data: Buffer;
}

/** Reads 16-bit PCM WAV as written by espeak-ng, sox and ffmpeg (streaming size placeholders included). */
export async function readWav(path: string): Promise<Pcm16> {
  const buf = await fsp.readFile(path);
  if (buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') throw new Error(`${path}: not a WAV file`);
  let pos = 12;
  let sampleRate = 0;
  let channels = 0;
  let bits = 0;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('latin1', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      channels = buf.readUInt16LE(body + 2);
      sampleRate = buf.readUInt32LE(body + 4);
      bits = buf.readUInt16LE(body + 14);
    } else if (id === 'data') {
      if (bits !== 16) throw new Error(`${path}: ${bits}-bit WAV, expected 16-bit`);
      const end = size === 0xffffffff || size === 0 || body + size > buf.length ? buf.length : body + size;
      const len = end - body - ((end - body) % (2 * channels));
      return { sampleRate, channels, data: buf.subarray(body, body + len) };
    }
    pos = body + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

/** A 44-byte header for 16-bit PCM: the product's own, which wav.test.ts checks against ffmpeg's. */
export function wavHeader(sampleRate: number, channels: number, dataBytes: number): Buffer {
  return pcmWavHeader({ sampleRate, channels, bitsPerSample: 16 }, dataBytes);
}

async function writeWav(path: string, pcm: Pcm16): Promise<void> {
  await fsp.writeFile(path, Buffer.concat([wavHeader(pcm.sampleRate, pcm.channels, pcm.data.length), pcm.data]));
}

/** Synthesises one utterance and trims its leading and trailing silence, at the given rate. */
async function synthesiseTurn(dir: string, base: string, turn: TurnSpec, sampleRate: number): Promise<Pcm16> {
  const raw = join(dir, `${base}.raw.wav`);
  const trimmed = join(dir, `${base}.wav`);
  // -g 10: 100 ms pauses between words, so word boundaries are visible in the energy.
  await run('espeak-ng', [...VOICES[turn.speaker], '-s', '150', '-g', '10', '-w', raw, turn.text]);
  await run('sox', [raw, '-b', '16', '-c', '1', trimmed, 'silence', '1', '0.005', '0.1%', 'reverse', 'silence', '1', '0.005', '0.1%', 'reverse', 'rate', '-h', String(sampleRate)]);
  const pcm = await readWav(trimmed);
  await Promise.all([fsp.rm(raw, { force: true }), fsp.rm(trimmed, { force: true })]);
  if (pcm.data.length === 0) throw new Error(`espeak-ng produced no audio for "${turn.text}"`);
  return pcm;
}

export interface TwoSpeakerOptions {
  dir: string;
  turns?: TurnSpec[];
  /** Silence between turns, seconds. */
  gapSeconds?: number;
  sampleRate?: number;
  /** File name without extension. */
  name?: string;
  /** Silence before the first and after the last turn, seconds. */
  edgeSeconds?: number;
}

/**
 * A WAV of alternating espeak-ng voices (A low male, B high female) separated by exact
 * silences. Turn times are computed from sample counts, so they are exact.
 */
export async function makeTwoSpeakerRecording(opts: TwoSpeakerOptions): Promise<Recording> {
  const turns = opts.turns ?? [...DEFAULT_TURNS];
  const sampleRate = opts.sampleRate ?? 22050;
  const gap = Math.round((opts.gapSeconds ?? 0.8) * sampleRate);
  const edge = Math.round((opts.edgeSeconds ?? 0.5) * sampleRate);
  const name = opts.name ?? 'two-speakers';
  await fsp.mkdir(opts.dir, { recursive: true });

  const parts = await Promise.all(turns.map((t, i) => synthesiseTurn(opts.dir, `${name}.turn${i}`, t, sampleRate)));
  const pieces: Buffer[] = [Buffer.alloc(edge * 2)];
  const out: Turn[] = [];
  let at = edge;
  parts.forEach((p, i) => {
    if (i > 0) {
      pieces.push(Buffer.alloc(gap * 2));
      at += gap;
    }
    const n = p.data.length / 2;
    out.push({ ...turns[i]!, start: at / sampleRate, end: (at + n) / sampleRate });
    pieces.push(p.data);
    at += n;
  });
  pieces.push(Buffer.alloc(edge * 2));
  at += edge;

  const path = join(opts.dir, `${name}.wav`);
  await writeWav(path, { sampleRate, channels: 1, data: Buffer.concat(pieces) });
  return { path, duration: at / sampleRate, turns: out };
}

export interface ToneOptions {
  dir: string;
  seconds: number;
  freq?: number;
  sampleRate?: number;
  channels?: number;
  name: string;
  /** Peak amplitude, 0..1. */
  amplitude?: number;
}

/** A sine tone WAV of exactly round(seconds × rate) samples. */
export async function makeTone(opts: ToneOptions): Promise<{ path: string; duration: number }> {
  const sampleRate = opts.sampleRate ?? 16000;
  const channels = opts.channels ?? 1;
  const freq = opts.freq ?? 440;
  const amp = Math.round((opts.amplitude ?? 0.5) * 32767);
  const n = Math.round(opts.seconds * sampleRate);
  const data = Buffer.alloc(n * channels * 2);
  for (let i = 0; i < n; i++) {
    const v = Math.round(amp * Math.sin((2 * Math.PI * freq * i) / sampleRate));
    for (let c = 0; c < channels; c++) data.writeInt16LE(v, (i * channels + c) * 2);
  }
  await fsp.mkdir(opts.dir, { recursive: true });
  const path = join(opts.dir, opts.name.endsWith('.wav') ? opts.name : `${opts.name}.wav`);
  await writeWav(path, { sampleRate, channels, data });
  return { path, duration: n / sampleRate };
}

/** ffmpeg transcode; the output's extension picks the container unless extraArgs say otherwise. */
export async function transcode(input: string, output: string, extraArgs: string[] = []): Promise<string> {
  await run(process.env.FFMPEG_PATH || 'ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-i', input, ...extraArgs, output]);
  return output;
}

export interface LongRecordingOptions {
  dir: string;
  /** Target length; the result is the smallest whole number of blocks at least this long (with `atMost`, the largest at most this long). */
  seconds: number;
  /** Never longer than `seconds` (for a limit such as pyannote.ai's 24 hours): round down to whole blocks. */
  atMost?: boolean;
  sampleRate?: number;
  name?: string;
  /** Turns of the repeated block; defaults to six alternating sentences. */
  turns?: TurnSpec[];
  gapSeconds?: number;
}

export interface LongRecording extends Recording {
  blockDuration: number;
  repetitions: number;
}

const LONG_BLOCK_TURNS: readonly TurnSpec[] = [
  ...DEFAULT_TURNS,
  { speaker: 'A', text: 'Then we should review the plan for the next quarter.' },
  { speaker: 'B', text: 'I agree, and we can share the notes with everyone.' },
];

/**
 * A long two-speaker WAV made by repeating one synthesised block, streamed to disk, so a
 * multi-hour benchmark file costs seconds to build. Known turns cover every repetition.
 */
export async function makeLongRecording(opts: LongRecordingOptions): Promise<LongRecording> {
  const sampleRate = opts.sampleRate ?? 16000;
  const name = opts.name ?? 'long';
  const block = await makeTwoSpeakerRecording({
    dir: opts.dir,
    turns: opts.turns ?? [...LONG_BLOCK_TURNS],
    gapSeconds: opts.gapSeconds,
    sampleRate,
    name: `${name}.block`,
  });
  const pcm = await readWav(block.path);
  await fsp.rm(block.path, { force: true });
  const blockSamples = pcm.data.length / 2;
  const blockDuration = blockSamples / sampleRate;
  const blocks = opts.seconds / blockDuration;
  const repetitions = Math.max(1, opts.atMost ? Math.floor(blocks + 1e-9) : Math.ceil(blocks - 1e-9));

  const path = join(opts.dir, `${name}.wav`);
  const out = createWriteStream(path);
  const finished = once(out, 'close');
  out.write(wavHeader(sampleRate, 1, pcm.data.length * repetitions));
  for (let r = 0; r < repetitions; r++) {
    if (!out.write(pcm.data)) await once(out, 'drain');
  }
  out.end();
  await finished;

  const turns: Turn[] = [];
  for (let r = 0; r < repetitions; r++) {
    // Offsets in samples keep times exact however many blocks precede.
    const offset = r * blockSamples;
    for (const t of block.turns) {
      turns.push({
        ...t,
        start: (offset + Math.round(t.start * sampleRate)) / sampleRate,
        end: (offset + Math.round(t.end * sampleRate)) / sampleRate,
      });
    }
  }
  return { path, duration: blockDuration * repetitions, turns, blockDuration, repetitions };
}

/**
 * A copy of a recording with other bytes (`n` × 0.25 s of silence added at the end), for a
 * test that needs a file of its own: a byte-identical copy takes its conversion, diarization
 * and transcription from the stage cache and pays for nothing.
 */
export function distinctCopy(input: string, output: string, n: number): Promise<string> {
  return transcode(input, output, ['-af', `apad=pad_dur=${(0.25 * n).toFixed(2)}`]);
}
