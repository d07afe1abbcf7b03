// Diarization with OpenAI's gpt-4o-transcribe-diarize, for users who have only an OpenAI key.
// One request per piece of at most maxPieceSeconds (the model caps a request at ≈1400 s and
// the body at 25 MiB), cut at silences, with `response_format=diarized_json` and
// `chunking_strategy=auto` (required above 30 s). The service labels speakers A, B, … per
// request, so after the first piece every speaker heard so far goes along with the next
// pieces as a known speaker (`known_speaker_names[]` + `known_speaker_references[]`, a
// 2–10 s clip of that speaker alone as a WAV data URL): a returning voice comes back under
// its stable name, a new letter is a new speaker. Retries are Temporal's: maxRetries is 0.
import { open } from 'node:fs/promises';
import OpenAI from 'openai';
import { z } from 'zod';
import { OPENAI_REQUEST_LIMIT_BYTES, planChunks } from '../domain/chunk-plan';
import { SILENCE_DETECTION } from '../domain/conversion';
import { Failure } from '../domain/failures';
import { ProviderError } from './errors';
import { streamingFetch } from './http';
import { requestDeadlineMs } from '../domain/deadlines';
import { postTranscription } from './openai-transcriber';
import { type WavInfo, byteRangeFor, hashWavFindingSilences, readWavInfo, wavHeader } from './wav';

export const OPENAI_DIARIZE_MODEL = 'gpt-4o-transcribe-diarize';
/** What the service takes per request: ≈1400 s (reported), and known speakers. */
const MODEL_MAX_SECONDS = 1400;
const MAX_KNOWN_SPEAKERS = 4;
export const REFERENCE_MIN_SECONDS = 2;
export const REFERENCE_MAX_SECONDS = 10;
/** Shorter audio is refused by the service (400 audio_too_short). */
const MIN_PIECE_SECONDS = 0.1;
/** Same-speaker segments this close, with no one else between them, make one clip. */
const CLIP_JOIN_GAP_SECONDS = 1;
const INTERNAL_LABEL = /^SPEAKER_\d+$/;

export interface OpenAIDiarizeOptions {
  apiKey: string;
  baseUrl?: string;
  /** Default gpt-4o-transcribe-diarize. */
  model?: string;
  /** Per-request timeout; keep it below the activity's start-to-close timeout. Default 10 min. */
  timeoutMs?: number;
  /**
   * Longest piece sent in one request. Default 1200, below the model's ≈1400 s cap; it is
   * lowered further to what fits the 25 MiB request body (about 760 s of 16 kHz mono WAV).
   */
  maxPieceSeconds?: number;
}

export interface KnownSpeaker {
  /** The label turns of this voice get; must not look like SPEAKER_xx. */
  name: string;
  /** A 16 kHz mono 16-bit WAV of 2–10 s of this voice alone (a longer one is cut to its middle 10 s). */
  clip: Buffer;
}

export interface OpenAIDiarizeRequest {
  /** Named voices: they take the first of the 4 known-speaker places in every request. */
  knownSpeakers?: KnownSpeaker[];
  signal?: AbortSignal;
  /** Pieces done and in all, after each request (and 0 of N before the first). */
  onProgress?: (done: number, total: number) => void;
}

export interface OpenAIDiarizationTurn {
  speaker: string;
  start: number;
  end: number;
}

export interface OpenAIDiarization {
  /** Absolute times in seconds, sorted, none of zero length. */
  turns: OpenAIDiarizationTurn[];
  /** SPEAKER_00, SPEAKER_01, … and matched known names, in order of first appearance. */
  speakers: string[];
  /** Requests answered (one per piece). */
  requests: number;
  /** Seconds of the recording sent (the pieces; reference clips not counted). */
  audioSecondsSent: number;
  /** The `usage` the service reported, summed over the requests. */
  usage: { inputTokens: number; outputTokens: number };
}

export interface OpenAIDiarizer {
  diarize(wavFile: string, opts?: OpenAIDiarizeRequest): Promise<OpenAIDiarization>;
}

const SegmentSchema = z.object({
  start: z.coerce.number(),
  end: z.coerce.number(),
  speaker: z.coerce.string(),
  text: z.string().nullish(),
});
const ResponseSchema = z.object({
  duration: z.coerce.number().nullish(),
  segments: z.array(SegmentSchema.passthrough()),
  usage: z
    .object({
      type: z.literal('tokens'),
      input_tokens: z.coerce.number().default(0),
      output_tokens: z.coerce.number().default(0),
    })
    .passthrough()
    .nullish()
    .catch(null),
});

/** A span of the recording where one speaker talks alone, in absolute seconds. */
interface Span {
  start: number;
  end: number;
}

/** A known speaker as sent: its name and its reference clip as a data URL. */
interface Reference {
  name: string;
  dataUrl: string;
}

/** Longest piece whose request body (WAV piece, 4 reference clips, envelope) fits the 25 MiB limit. */
export function maxPieceSecondsFor(info: Pick<WavInfo, 'bytesPerSecond'>, maxPieceSeconds: number): number {
  const referenceBytes = Math.ceil(((44 + REFERENCE_MAX_SECONDS * info.bytesPerSecond) * 4) / 3) + 256;
  const reserve = MAX_KNOWN_SPEAKERS * referenceBytes + 64 * 1024;
  return Math.min(maxPieceSeconds, MODEL_MAX_SECONDS, (OPENAI_REQUEST_LIMIT_BYTES - reserve) / info.bytesPerSecond);
}

export function createOpenAIDiarizer(opts: OpenAIDiarizeOptions): OpenAIDiarizer {
  const model = opts.model ?? OPENAI_DIARIZE_MODEL;
  const client = new OpenAI({ apiKey: opts.apiKey, baseURL: opts.baseUrl, maxRetries: 0, timeout: opts.timeoutMs ?? 10 * 60_000, fetch: streamingFetch });

  async function send(file: string, info: WavInfo, piece: Span, fileName: string, references: Reference[], signal?: AbortSignal) {
    const range = byteRangeFor(info, piece.start, piece.end);
    const fields: [string, string][] = [
      ['model', model],
      ['response_format', 'diarized_json'],
      ['chunking_strategy', 'auto'],
    ];
    for (const r of references) fields.push(['known_speaker_names[]', r.name]);
    for (const r of references) fields.push(['known_speaker_references[]', r.dataUrl]);
    const raw = await postTranscription(
      client,
      fields,
      { fileName, contentType: 'audio/wav', content: [wavHeader(info, range.endByte - range.startByte), { path: file, start: range.startByte, end: range.endByte }] },
      signal,
      undefined,
      // Unless set for the client, each piece's deadline follows its size (domain/deadlines.ts).
      opts.timeoutMs ?? requestDeadlineMs({ provider: 'openai', model, audioSeconds: piece.end - piece.start, uploadBytes: range.endByte - range.startByte }),
    );
    const parsed = ResponseSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ProviderError(Failure.ProviderProtocol, `The diarization service (${model}) answered in an unexpected shape: ${parsed.error.issues[0]?.message ?? 'invalid'}`, {
        provider: 'openai',
      });
    }
    return parsed.data;
  }

  return {
    async diarize(wavFile: string, req: OpenAIDiarizeRequest = {}): Promise<OpenAIDiarization> {
      const { signal, onProgress } = req;
      signal?.throwIfAborted();
      const userSpeakers = await userReferences(req.knownSpeakers ?? []);
      const info = await readWavInfo(wavFile);
      if (info.channels !== 1 || info.bitsPerSample !== 16) {
        throw new Error(`${wavFile} is ${info.channels}-channel ${info.bitsPerSample}-bit audio; the diarizer sends 16-bit mono PCM WAV`);
      }
      const limit = maxPieceSecondsFor(info, opts.maxPieceSeconds ?? 1200);
      let silences: Span[] = [];
      if (info.durationSeconds > limit) silences = (await hashWavFindingSilences(wavFile, SILENCE_DETECTION, signal)).silences;
      const pieces = planChunks({ duration: info.durationSeconds, silences, maxChunkSeconds: limit }).filter((p) => p.end - p.start >= MIN_PIECE_SECONDS);
      onProgress?.(0, pieces.length);

      const turns: OpenAIDiarizationTurn[] = [];
      /** Per speaker heard so far: where it talks alone longest (absolute), and its talk time. */
      const clean = new Map<string, { best: Span; talk: number; first: number }>();
      /** The reference clip last made for each speaker, kept while its span stays the best. */
      const clips = new Map<string, Span & { ref: Reference }>();
      let numbered = 0;
      let requests = 0;
      let audioSecondsSent = 0;
      const usage = { inputTokens: 0, outputTokens: 0 };

      for (const [i, piece] of pieces.entries()) {
        signal?.throwIfAborted();
        const references = await referencesFor(wavFile, info, userSpeakers, clean, clips);
        const sent = new Set(references.map((r) => r.name));
        const body = await send(wavFile, info, piece, `piece-${String(i).padStart(4, '0')}.wav`, references, signal);
        requests += 1;
        audioSecondsSent += piece.end - piece.start;
        if (body.usage) {
          usage.inputTokens += body.usage.input_tokens;
          usage.outputTokens += body.usage.output_tokens;
        }

        // This answer's labels: a known name sent with it is that speaker; any other label
        // (A, B, …) is a voice not matched, so a new speaker, numbered in order of appearance.
        const span = piece.end - piece.start;
        const segments = body.segments
          .map((s) => ({ ...s, start: Math.min(Math.max(0, s.start), span), end: Math.min(Math.max(0, s.end), span) }))
          .filter((s) => s.end > s.start)
          .sort((a, b) => a.start - b.start || a.end - b.end);
        const local = new Map<string, string>();
        for (const s of segments) {
          if (local.has(s.speaker)) continue;
          if (sent.has(s.speaker)) local.set(s.speaker, s.speaker);
          else local.set(s.speaker, `SPEAKER_${String(numbered++).padStart(2, '0')}`);
        }
        const labelled = segments.map((s) => ({ speaker: local.get(s.speaker)!, start: piece.start + s.start, end: piece.start + s.end }));
        turns.push(...labelled);
        noteCleanSpans(labelled, clean);
        onProgress?.(i + 1, pieces.length);
      }

      turns.sort((a, b) => a.start - b.start || a.end - b.end);
      const speakers: string[] = [];
      for (const t of turns) if (!speakers.includes(t.speaker)) speakers.push(t.speaker);
      return { turns, speakers, requests, audioSecondsSent, usage };
    },
  };
}

/**
 * The known speakers to send with the next piece: the user's named voices first, then the
 * speakers heard so far that have a clean span of at least 2 s, most talk first, at most 4.
 */
async function referencesFor(
  file: string,
  info: WavInfo,
  user: Reference[],
  clean: Map<string, { best: Span; talk: number; first: number }>,
  clips: Map<string, Span & { ref: Reference }>,
): Promise<Reference[]> {
  const out = user.slice(0, MAX_KNOWN_SPEAKERS);
  const taken = new Set(out.map((r) => r.name));
  const candidates = [...clean.entries()]
    .filter(([name, c]) => !taken.has(name) && c.best.end - c.best.start >= REFERENCE_MIN_SECONDS)
    .sort(([, a], [, b]) => b.talk - a.talk || a.first - b.first);
  for (const [name, c] of candidates) {
    if (out.length >= MAX_KNOWN_SPEAKERS) break;
    const span = clampSpan(c.best);
    let clip = clips.get(name);
    if (!clip || clip.start !== span.start || clip.end !== span.end) {
      clip = { ...span, ref: { name, dataUrl: wavDataUrl(await readPcm(file, info, span), info) } };
      clips.set(name, clip);
    }
    out.push(clip.ref);
  }
  return out;
}

/** The middle of a span, at most REFERENCE_MAX_SECONDS long. */
function clampSpan(s: Span): Span {
  const length = s.end - s.start;
  if (length <= REFERENCE_MAX_SECONDS) return s;
  const mid = (s.start + s.end) / 2;
  return { start: mid - REFERENCE_MAX_SECONDS / 2, end: mid + REFERENCE_MAX_SECONDS / 2 };
}

/**
 * Records, from one piece's labelled turns, each speaker's talk time and its longest span of
 * speaking alone: its consecutive turns joined across short pauses, minus any part another
 * speaker's turn overlaps.
 */
function noteCleanSpans(turns: OpenAIDiarizationTurn[], clean: Map<string, { best: Span; talk: number; first: number }>): void {
  const sorted = [...turns].filter((t) => t.end > t.start).sort((a, b) => a.start - b.start);
  const runs: OpenAIDiarizationTurn[] = [];
  for (const t of sorted) {
    const last = runs[runs.length - 1];
    if (last && last.speaker === t.speaker && t.start - last.end <= CLIP_JOIN_GAP_SECONDS) last.end = Math.max(last.end, t.end);
    else runs.push({ ...t });
  }
  for (const t of sorted) {
    const entry = clean.get(t.speaker) ?? { best: { start: t.start, end: t.start }, talk: 0, first: t.start };
    entry.talk += t.end - t.start;
    clean.set(t.speaker, entry);
  }
  for (const run of runs) {
    const others = sorted.filter((o) => o.speaker !== run.speaker && o.end > run.start && o.start < run.end);
    for (const part of subtract(run, others)) {
      const entry = clean.get(run.speaker)!;
      if (part.end - part.start > entry.best.end - entry.best.start) entry.best = part;
    }
  }
}

/** The parts of `span` no span of `cut` covers. */
function subtract(span: Span, cut: Span[]): Span[] {
  let parts: Span[] = [{ start: span.start, end: span.end }];
  for (const c of cut) {
    parts = parts.flatMap((p) => {
      if (c.end <= p.start || c.start >= p.end) return [p];
      const out: Span[] = [];
      if (c.start > p.start) out.push({ start: p.start, end: c.start });
      if (c.end < p.end) out.push({ start: c.end, end: p.end });
      return out;
    });
  }
  return parts;
}

async function readPcm(file: string, info: WavInfo, span: Span): Promise<Buffer> {
  const range = byteRangeFor(info, span.start, span.end);
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(range.endByte - range.startByte);
    const { bytesRead } = await fh.read(buf, 0, buf.length, range.startByte);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function wavDataUrl(pcm: Buffer, info: Pick<WavInfo, 'sampleRate' | 'channels' | 'bitsPerSample'>): string {
  return `data:audio/wav;base64,${Buffer.concat([wavHeader(info, pcm.length), pcm]).toString('base64')}`;
}

/** The user's named voices as references: each clip checked to be 16-bit PCM WAV of 2–10 s (longer is cut to its middle 10 s). */
async function userReferences(known: KnownSpeaker[]): Promise<Reference[]> {
  const seen = new Set<string>();
  const out: Reference[] = [];
  for (const k of known) {
    const name = k.name.trim();
    if (!name) throw new RangeError('A known speaker needs a name.');
    if (INTERNAL_LABEL.test(name)) throw new RangeError(`Known speaker name "${name}" looks like a diarization label (SPEAKER_xx); choose another name.`);
    if (seen.has(name)) throw new RangeError(`Known speaker "${name}" is given twice.`);
    seen.add(name);
    const { info, pcm } = parseWav(k.clip, name);
    const seconds = pcm.length / info.bytesPerSecond;
    if (seconds < REFERENCE_MIN_SECONDS) throw new RangeError(`The clip of known speaker "${name}" is ${seconds.toFixed(2)} s long; it needs ${REFERENCE_MIN_SECONDS}–${REFERENCE_MAX_SECONDS} s of that voice alone.`);
    let data = pcm;
    if (seconds > REFERENCE_MAX_SECONDS) {
      const blockAlign = info.channels * (info.bitsPerSample / 8);
      const keep = Math.round(REFERENCE_MAX_SECONDS * info.sampleRate) * blockAlign;
      const from = Math.floor((pcm.length - keep) / 2 / blockAlign) * blockAlign;
      data = pcm.subarray(from, from + keep);
    }
    out.push({ name, dataUrl: wavDataUrl(data, info) });
  }
  return out;
}

/** Reads a 16-bit PCM WAV held in memory: its format and its sample data. */
function parseWav(buf: Buffer, name: string): { info: WavInfo; pcm: Buffer } {
  const bad = () => new RangeError(`The clip of known speaker "${name}" is not a 16-bit PCM WAV file.`);
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw bad();
  let pos = 12;
  let fmt: { format: number; channels: number; sampleRate: number; bitsPerSample: number } | null = null;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('ascii', pos, pos + 4);
    const len = buf.readUInt32LE(pos + 4);
    if (id === 'fmt ' && pos + 24 <= buf.length) {
      fmt = { format: buf.readUInt16LE(pos + 8), channels: buf.readUInt16LE(pos + 10), sampleRate: buf.readUInt32LE(pos + 12), bitsPerSample: buf.readUInt16LE(pos + 22) };
    } else if (id === 'data') {
      if (!fmt || (fmt.format !== 1 && fmt.format !== 0xfffe) || fmt.bitsPerSample !== 16 || fmt.channels < 1 || fmt.sampleRate < 1000) throw bad();
      const dataOffset = pos + 8;
      const blockAlign = fmt.channels * 2;
      let dataBytes = len === 0 || len === 0xffffffff || dataOffset + len > buf.length ? buf.length - dataOffset : len;
      dataBytes -= dataBytes % blockAlign;
      const bytesPerSecond = fmt.sampleRate * blockAlign;
      const info: WavInfo = {
        sampleRate: fmt.sampleRate,
        channels: fmt.channels,
        bitsPerSample: 16,
        dataOffset,
        dataBytes,
        declaredDataBytes: len,
        bytesPerSecond,
        durationSeconds: dataBytes / bytesPerSecond,
      };
      return { info, pcm: buf.subarray(dataOffset, dataOffset + dataBytes) };
    }
    pos += 8 + len + (len % 2);
  }
  throw bad();
}
