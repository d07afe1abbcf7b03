/**
 * Local emulator of the pyannote.ai API, written to contracts/pyannote-ai.md: key check,
 * media store with presigned PUT, diarization, voiceprint and identification jobs with
 * their lifecycle, validation errors, rate-limit headers, webhooks. Results are computed
 * from the uploaded audio (speech regions clustered by pitch) when a job starts, off the
 * request path.
 *
 * Voiceprints and identification, as pyannote.ai's OpenAPI document describes them
 * (docs.pyannote.ai/openapi.json, schemas VoiceprintRequest, IdentifyRequest,
 * IdentificationJobOutput): `POST /v1/voiceprint {url, model: "precision-2"}` gives a job whose
 * `output.voiceprint` is an opaque string; clips are at most 30 s (docs FAQ; the docs do not
 * say how a longer one is refused: the audio is only read when the job runs, so here the job
 * fails). `POST /v1/identify` takes the diarize options plus `voiceprints` (1–50 of
 * `{label ≤ 100 chars, not starting with SPEAKER_, voiceprint ≤ 20000 chars}`) and
 * `matching: {exclusive = true, threshold = 0}`; threshold is on the 0–100 confidence scale
 * every pyannote score uses, and 0 means every speaker is matched to a voiceprint while
 * one is left. Its output keeps `diarization` labelled SPEAKER_xx and adds
 * `identification[] {speaker, start, end, diarizationSpeaker, match}` (speaker is the
 * match, or the diarization label when there is none) and `voiceprints[] {speaker, match,
 * confidence: {label: 0–100}}`. Here a voiceprint is the voice's pitch signature (median and
 * quartiles of log pitch over its speech), and confidence falls from ~99 for the same
 * synthetic voice to 50 at 0.12 octave apart and ~1 at 0.2 octave (where speakers split).
 *
 * Limits and lifetimes, as contracts/pyannote-ai.md gives them: a file is at most 1 GiB (the
 * presigned PUT refuses more, as S3 does, with EntityTooLarge; a job on a bigger public URL
 * fails) and at most 24 h of audio (a longer diarize or identify job ends `failed`); results
 * are deleted 24 h after the job completes and uploaded media after 24–48 h (here 24 h, the
 * earliest). Those times are on the emulator's clock, which tests move on with advanceClock()
 * (or POST /__emulator/clock) instead of waiting; the same clock stamps jobs, presigned URL
 * expiry and the per-key rate-limit window.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { type AudioAnalysis, DecodeError, type SpeakerHints, type SpeakerRegion, analyzeAudio, clusterSpeakers, pitchesIn, speechRegions } from './audio-analysis';
import { type Bandwidth, bandwidthOption } from './bandwidth';
import { type FaultAction, FaultPlan, type LatencyModel, latencyMs } from './faults';
import { type LogEntryBase, RequestLog, RequestWindow, applyConnectionFault, bearerToken, isConnectionFault, closeServer, handleAdmin, listen, readBody, sendJson, trackRequest } from './emulator-http';

export interface PyannoteEmulatorOptions {
  port?: number;
  host?: string;
  apiKeys?: string[];
  /** Job processing time: fixedMs + perAudioSecondMs × audio seconds, from the moment it runs. */
  latency?: LatencyModel;
  /** Alternative to latency.perAudioSecondMs: processing seconds per audio second (0.01 = 100× real time). */
  jobDurationFactor?: number;
  /** Time a job stays `created` before it runs. */
  queueDelayMs?: number;
  logFile?: string;
  /** Where uploaded media is kept; a fresh temp dir (removed on close) by default. */
  storageDir?: string;
  /** Requests per key in the sliding minute (X-RateLimit-Limit); pyannote.ai's is about 100. */
  requestsPerMinute?: number;
  /** Answer 429 past requestsPerMinute (off by default: tests poll fast). */
  enforceRateLimit?: boolean;
  /** Same-speaker turns closer than this are merged. */
  mergeGapSeconds?: number;
  /** Largest media file in bytes (PYANNOTE_MAX_MEDIA_BYTES, 1 GiB, by default). */
  maxMediaBytes?: number;
  /** Longest audio of a diarize or identify job in seconds (PYANNOTE_MAX_AUDIO_SECONDS, 24 h, by default). */
  maxAudioSeconds?: number;
  presignTtlSeconds?: number;
  /** How long after completion a job's results are kept (24 h by default), on the emulator clock. */
  resultsTtlSeconds?: number;
  /**
   * What GET /v1/jobs/{id} answers once the results are deleted, which the contract leaves
   * unsure: '404' (default) as for an unknown job, or 'no-output', the job with its terminal
   * status and no `output` (a succeeded job without results).
   */
  expiredResults?: '404' | 'no-output';
  /** How long uploaded media is kept (24 h by default, the earliest the contract allows), on the emulator clock. */
  mediaTtlSeconds?: number;
  /** The emulator clock in ms since the epoch (Date.now by default); advanceClock() adds to it. */
  clock?: () => number;
  /**
   * The client's upload link: media PUTs and request bodies are read no faster than this. A
   * Bandwidth from createBandwidth() shared with the OpenAI emulator models one link both
   * providers' uploads go through; a number is bytes per second on a link of this emulator's
   * own. Unlimited by default.
   */
  uploadBandwidth?: Bandwidth | number;
  /** HMAC key for webhook X-Signature. */
  webhookSecret?: string;
}

/** pyannote.ai's per-file limits and result lifetime (contracts/pyannote-ai.md). */
export const PYANNOTE_MAX_MEDIA_BYTES = 1024 ** 3;
export const PYANNOTE_MAX_AUDIO_SECONDS = 24 * 3600;
export const PYANNOTE_RESULTS_TTL_SECONDS = 24 * 3600;

export interface PyannoteRequestLogEntry extends LogEntryBase {
  jobId?: string;
  mediaKey?: string;
  error?: string;
}

export interface DiarizeRequest {
  url: string;
  webhook?: string;
  webhookStatusOnly?: boolean;
  model: 'precision-2' | 'community-1';
  numSpeakers?: number | null;
  minSpeakers?: number | null;
  maxSpeakers?: number | null;
  exclusive?: boolean;
  turnLevelConfidence?: boolean;
  confidence?: boolean;
  transcription?: boolean;
}

export interface VoiceprintRequest {
  url: string;
  webhook?: string;
  webhookStatusOnly?: boolean;
  model: 'precision-2';
}

export interface VoiceprintEntry {
  label: string;
  voiceprint: string;
}

export interface IdentifyRequest extends Omit<DiarizeRequest, 'model' | 'transcription'> {
  model: 'precision-2';
  voiceprints: VoiceprintEntry[];
  matching: { exclusive: boolean; threshold: number };
}

export type JobKind = 'diarize' | 'voiceprint' | 'identify';

/** What a job was asked for: every kind's request reads as a diarize request (its fields optional), plus identify's own. */
export interface JobRequest extends DiarizeRequest {
  voiceprints?: VoiceprintEntry[];
  matching?: IdentifyRequest['matching'];
}

export interface Turn {
  speaker: string;
  start: number;
  end: number;
}

export interface IdentificationSegment extends Turn {
  diarizationSpeaker: string;
  match: string | null;
}

export interface IdentificationVoiceprint {
  /** The diarization speaker (SPEAKER_xx). */
  speaker: string;
  match: string | null;
  /** Voiceprint label → 0–100. */
  confidence: Record<string, number>;
}

export interface JobOutput {
  diarization?: Turn[];
  exclusiveDiarization?: Turn[];
  voiceprint?: string;
  identification?: IdentificationSegment[];
  voiceprints?: IdentificationVoiceprint[];
  warning?: string;
  error?: string;
}

export type JobStatus = 'pending' | 'created' | 'running' | 'succeeded' | 'failed' | 'canceled';

export interface PyannoteJob {
  jobId: string;
  kind: JobKind;
  status: JobStatus;
  createdAt: string;
  updatedAt: string;
  request: JobRequest;
  /** Known once the audio has been analysed. */
  audioSeconds: number | null;
  numSpeakers: number | null;
  output?: JobOutput;
  /** When the job reached its terminal status, on the emulator clock; results are deleted resultsTtlSeconds later. */
  completedAt?: string;
}

export interface StoredMedia {
  key: string;
  path: string;
  bytes: number;
  uploadedAt: string;
}

export interface PyannoteEmulator {
  /** Base URL without /v1 (like https://api.pyannote.ai). */
  readonly url: string;
  readonly port: number;
  readonly requests: PyannoteRequestLogEntry[];
  readonly jobs: Map<string, PyannoteJob>;
  readonly media: Map<string, StoredMedia>;
  readonly faults: FaultPlan;
  /** The emulator clock, ms since the epoch. */
  now(): number;
  /** Moves the emulator clock on by `ms` (e.g. 24 h + 1 s to see results deleted). */
  advanceClock(ms: number): void;
  /** Clears log, faults, jobs (stopping running ones), stored media and clock advances. */
  reset(): void;
  close(): Promise<void>;
}

const MEDIA_URL = /^media:\/\/[a-zA-Z0-9\-_./]+$/;
const TERMINAL: JobStatus[] = ['succeeded', 'failed', 'canceled'];
const FAILED_MESSAGE = 'An error occurred while processing the audio.';

interface FieldError {
  field: string;
  message: string;
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(body.message));
  }
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** Merges same-speaker turns closer than `gap`; per speaker, so turns of different speakers may overlap. */
function mergePerSpeaker(regions: SpeakerRegion[], gap: number): Turn[] {
  const bySpeaker = new Map<string, Turn[]>();
  for (const r of [...regions].sort((a, b) => a.start - b.start)) {
    const list = bySpeaker.get(r.speaker) ?? [];
    const last = list[list.length - 1];
    if (last && r.start - last.end < gap) last.end = Math.max(last.end, r.end);
    else list.push({ speaker: r.speaker, start: r.start, end: r.end });
    bySpeaker.set(r.speaker, list);
  }
  return [...bySpeaker.values()]
    .flat()
    .sort((a, b) => a.start - b.start || a.end - b.end)
    .map((t) => ({ speaker: t.speaker, start: round3(t.start), end: round3(t.end) }));
}

/** Chronological, never overlapping: consecutive same-speaker regions merge only when nobody spoke between. */
function exclusiveTurns(regions: SpeakerRegion[], gap: number): Turn[] {
  const out: Turn[] = [];
  for (const r of [...regions].sort((a, b) => a.start - b.start)) {
    const last = out[out.length - 1];
    if (last && last.speaker === r.speaker && r.start - last.end < gap) last.end = r.end;
    else out.push({ speaker: r.speaker, start: Math.max(r.start, last?.end ?? 0), end: r.end });
  }
  return out.filter((t) => t.end > t.start).map((t) => ({ speaker: t.speaker, start: round3(t.start), end: round3(t.end) }));
}

type Body = Record<string, unknown>;

/** The request body as an object, or pyannote's 400 for anything else. */
function bodyObject(raw: unknown): Body {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new HttpFailure(400, { message: 'Request body must be a JSON object', errors: [] });
  return raw as Body;
}

function checkUrl(b: Body, media: Map<string, StoredMedia>, errors: FieldError[]): void {
  if (typeof b.url !== 'string' || b.url.length === 0) errors.push({ field: 'url', message: 'url is required and must be a string' });
  else if (b.url.startsWith('media://')) {
    if (!MEDIA_URL.test(b.url) || b.url.length > 255) errors.push({ field: 'url', message: 'url must match ^media://[a-zA-Z0-9\\-_./]+$ (at most 255 characters)' });
    else if (!media.has(b.url.slice('media://'.length))) errors.push({ field: 'url', message: `No media found for ${b.url}; upload it first with POST /v1/media/input` });
  } else if (!/^https?:\/\//.test(b.url)) errors.push({ field: 'url', message: 'url must be a public http(s) URL or a media:// URL' });
}

function checkModel<M extends string>(b: Body, allowed: readonly M[], errors: FieldError[]): M {
  const model = (b.model ?? allowed[0]) as M;
  if (!allowed.includes(model)) errors.push({ field: 'model', message: `model must be one of ${allowed.map((m) => `'${m}'`).join(', ')}` });
  return model;
}

function checkCounts(b: Body, errors: FieldError[]): { numSpeakers: number | null; minSpeakers: number | null; maxSpeakers: number | null } {
  const count = (field: string): number | null | undefined => {
    const v = b[field];
    if (v === undefined || v === null) return v;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      errors.push({ field, message: `${field} must be a positive integer or null` });
      return undefined;
    }
    return v;
  };
  const numSpeakers = count('numSpeakers');
  const minSpeakers = count('minSpeakers');
  const maxSpeakers = count('maxSpeakers');
  if (typeof numSpeakers === 'number' && (typeof minSpeakers === 'number' || typeof maxSpeakers === 'number')) {
    errors.push({ field: 'numSpeakers', message: 'numSpeakers cannot be used together with minSpeakers or maxSpeakers' });
  }
  if (typeof minSpeakers === 'number' && typeof maxSpeakers === 'number' && minSpeakers > maxSpeakers) {
    errors.push({ field: 'minSpeakers', message: 'minSpeakers must be less than or equal to maxSpeakers' });
  }
  return { numSpeakers: numSpeakers ?? null, minSpeakers: minSpeakers ?? null, maxSpeakers: maxSpeakers ?? null };
}

function checkBooleans(b: Body, fields: readonly string[], errors: FieldError[]): void {
  for (const field of fields) {
    if (b[field] !== undefined && b[field] !== null && typeof b[field] !== 'boolean') errors.push({ field, message: `${field} must be a boolean` });
  }
}

function checkWebhook(b: Body, errors: FieldError[]): { webhook?: string; webhookStatusOnly: boolean } {
  if (b.webhook !== undefined && b.webhook !== null && (typeof b.webhook !== 'string' || !/^https?:\/\//.test(b.webhook))) {
    errors.push({ field: 'webhook', message: 'webhook must be an http(s) URL' });
  }
  return { ...(typeof b.webhook === 'string' ? { webhook: b.webhook } : {}), webhookStatusOnly: b.webhookStatusOnly === true };
}

function fail400(errors: FieldError[]): void {
  if (errors.length) throw new HttpFailure(400, { message: 'Validation failed', errors });
}

function validateDiarize(raw: unknown, media: Map<string, StoredMedia>): DiarizeRequest {
  const b = bodyObject(raw);
  const errors: FieldError[] = [];
  checkUrl(b, media, errors);
  const model = checkModel(b, ['precision-2', 'community-1'] as const, errors);
  const counts = checkCounts(b, errors);
  checkBooleans(b, ['exclusive', 'turnLevelConfidence', 'confidence', 'transcription', 'webhookStatusOnly'], errors);
  const hook = checkWebhook(b, errors);
  if (b.transcription === true && model !== 'precision-2') errors.push({ field: 'transcription', message: 'transcription is only available with the precision-2 model' });
  fail400(errors);
  return { ...diarizeOptions(b, model, hook, counts), transcription: b.transcription === true };
}

/** The options diarize and identify requests share, once validated. */
function diarizeOptions<M extends string>(b: Record<string, unknown>, model: M, hook: ReturnType<typeof checkWebhook>, counts: ReturnType<typeof checkCounts>) {
  return {
    url: b.url as string,
    model,
    ...hook,
    ...counts,
    exclusive: b.exclusive === true,
    turnLevelConfidence: b.turnLevelConfidence === true,
    confidence: b.confidence === true,
  };
}

function validateVoiceprint(raw: unknown, media: Map<string, StoredMedia>): VoiceprintRequest {
  const b = bodyObject(raw);
  const errors: FieldError[] = [];
  checkUrl(b, media, errors);
  const model = checkModel(b, ['precision-2'] as const, errors);
  checkBooleans(b, ['webhookStatusOnly'], errors);
  const hook = checkWebhook(b, errors);
  fail400(errors);
  return { url: b.url as string, model, ...hook };
}

const MAX_VOICEPRINTS = 50;
const MAX_LABEL_CHARS = 100;
const MAX_VOICEPRINT_CHARS = 20_000;

function validateIdentify(raw: unknown, media: Map<string, StoredMedia>): IdentifyRequest {
  const b = bodyObject(raw);
  const errors: FieldError[] = [];
  checkUrl(b, media, errors);
  const model = checkModel(b, ['precision-2'] as const, errors);
  const counts = checkCounts(b, errors);
  checkBooleans(b, ['exclusive', 'turnLevelConfidence', 'confidence', 'webhookStatusOnly'], errors);
  const hook = checkWebhook(b, errors);

  const voiceprints: VoiceprintEntry[] = [];
  if (!Array.isArray(b.voiceprints) || b.voiceprints.length < 1 || b.voiceprints.length > MAX_VOICEPRINTS) {
    errors.push({ field: 'voiceprints', message: `voiceprints must be an array of 1 to ${MAX_VOICEPRINTS} voiceprints` });
  } else {
    const seen = new Set<string>();
    b.voiceprints.forEach((v: unknown, i) => {
      const field = `voiceprints[${i}]`;
      const e = (v && typeof v === 'object' ? v : {}) as Body;
      if (typeof e.label !== 'string' || e.label.length === 0 || e.label.length > MAX_LABEL_CHARS) {
        errors.push({ field: `${field}.label`, message: `label must be a string of 1 to ${MAX_LABEL_CHARS} characters` });
      } else if (/^speaker_/i.test(e.label)) errors.push({ field: `${field}.label`, message: "label can't start with \"SPEAKER_\"" });
      else if (seen.has(e.label)) errors.push({ field: `${field}.label`, message: `label "${e.label}" is used by more than one voiceprint` });
      else seen.add(e.label);
      if (typeof e.voiceprint !== 'string' || e.voiceprint.length === 0 || e.voiceprint.length > MAX_VOICEPRINT_CHARS) {
        errors.push({ field: `${field}.voiceprint`, message: `voiceprint must be a string of at most ${MAX_VOICEPRINT_CHARS} characters` });
      } else if (!decodeVoiceprint(e.voiceprint)) errors.push({ field: `${field}.voiceprint`, message: 'voiceprint is not a valid voiceprint' });
      if (typeof e.label === 'string' && typeof e.voiceprint === 'string') voiceprints.push({ label: e.label, voiceprint: e.voiceprint });
    });
  }

  let matching = { exclusive: true, threshold: 0 };
  if (b.matching !== undefined && b.matching !== null) {
    if (typeof b.matching !== 'object' || Array.isArray(b.matching)) errors.push({ field: 'matching', message: 'matching must be an object' });
    else {
      const m = b.matching as Body;
      if (m.exclusive !== undefined && m.exclusive !== null && typeof m.exclusive !== 'boolean') errors.push({ field: 'matching.exclusive', message: 'matching.exclusive must be a boolean' });
      if (m.threshold !== undefined && m.threshold !== null && (typeof m.threshold !== 'number' || !(m.threshold >= 0 && m.threshold <= 100))) {
        errors.push({ field: 'matching.threshold', message: 'matching.threshold must be a number between 0 and 100' });
      }
      matching = { exclusive: m.exclusive !== false, threshold: typeof m.threshold === 'number' ? m.threshold : 0 };
    }
  }
  fail400(errors);
  return { ...diarizeOptions(b, model, hook, counts), voiceprints, matching };
}

/** Longest clip a voiceprint is made from (pyannote.ai docs, FAQ), and its file size limit. */
const VOICEPRINT_MAX_SECONDS = 30;
const VOICEPRINT_MAX_BYTES = 100 * 1024 ** 2;
const VOICEPRINT_TOO_LONG = `Audio for a voiceprint must be at most ${VOICEPRINT_MAX_SECONDS} seconds long.`;
const VOICEPRINT_TOO_BIG = 'Audio for a voiceprint must be at most 100 MiB.';

/** A job that ends `failed` with this message as `output.error`. */
class JobFailure extends Error {}

/** A limit as people write it: 1 GiB, 24 hours, or plain units for the small values tests set. */
function bytesText(n: number): string {
  if (n % 1024 ** 3 === 0) return `${n / 1024 ** 3} GiB`;
  if (n % 1024 ** 2 === 0) return `${n / 1024 ** 2} MiB`;
  return `${n} bytes`;
}

function secondsText(s: number): string {
  return s % 3600 === 0 ? `${s / 3600} hours` : `${s} seconds`;
}

const tooBigMessage = (max: number) => `Media file exceeds the maximum size of ${bytesText(max)} per file.`;
const tooLongMessage = (seconds: number, max: number) => `Audio duration (${seconds.toFixed(1)} s) exceeds the maximum of ${secondsText(max)} of audio per file.`;

/**
 * pyannote.audio's warning when the speakers found fall outside the bounds asked for
 * (numSpeakers n means [n, n]; unset bounds are 1 and inf). Its clustering is forced to
 * any count the speech allows, so asking for fewer voices than there are merges them
 * silently; the warning comes when there are fewer separable stretches of speech than
 * speakers asked for. No speech at all gives an empty diarization and no warning.
 */
function speakerCountWarning(found: number, hints: SpeakerHints): string | undefined {
  if (found === 0) return undefined;
  const min = hints.numSpeakers ?? hints.minSpeakers ?? 1;
  const max = hints.numSpeakers ?? hints.maxSpeakers ?? Infinity;
  if (found >= min && found <= max) return undefined;
  return (
    `The detected number of speakers (${found}) is outside the given bounds [${min}, ${max === Infinity ? 'inf' : max}]. ` +
    `This can happen if the given audio file is too short to contain ${min} or more speakers. Try to lower the desired minimal number of speakers.`
  );
}

/** Pitch signature of one voice: quartiles of log2 pitch (Hz) over its voiced speech. */
interface VoiceSignature {
  median: number;
  q1: number;
  q3: number;
}

const VOICEPRINT_MAGIC = 'EMVP';
const VOICEPRINT_VERSION = 1;

/** Opaque like pyannote's: base64 of a versioned binary record, not something to parse elsewhere. */
function encodeVoiceprint(sig: VoiceSignature): string {
  const buf = Buffer.alloc(5 + 3 * 4);
  buf.write(VOICEPRINT_MAGIC, 0, 'latin1');
  buf.writeUInt8(VOICEPRINT_VERSION, 4);
  buf.writeFloatLE(sig.median, 5);
  buf.writeFloatLE(sig.q1, 9);
  buf.writeFloatLE(sig.q3, 13);
  return buf.toString('base64');
}

function decodeVoiceprint(text: string): VoiceSignature | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
  const buf = Buffer.from(text, 'base64');
  if (buf.length !== 17 || buf.toString('latin1', 0, 4) !== VOICEPRINT_MAGIC || buf.readUInt8(4) !== VOICEPRINT_VERSION) return null;
  const sig = { median: buf.readFloatLE(5), q1: buf.readFloatLE(9), q3: buf.readFloatLE(13) };
  return [sig.median, sig.q1, sig.q3].every((v) => Number.isFinite(v) && v > 4 && v < 11) ? sig : null;
}

/** Signature of the voiced pitch estimates inside `spans`, or null when too few are voiced. */
function voiceSignature(a: AudioAnalysis, spans: readonly { start: number; end: number }[]): VoiceSignature | null {
  const values = spans.flatMap((span) => pitchesIn(a, span).map((hz) => Math.log2(hz)));
  if (values.length < 3) return null;
  values.sort((x, y) => x - y);
  const at = (q: number) => values[Math.round(q * (values.length - 1))]!;
  return { median: at(0.5), q1: at(0.25), q3: at(0.75) };
}

/**
 * 0–100 like pyannote's confidence, from the medians (the quartiles move too much between
 * sentences to help): 95–99 for the same synthetic voice saying other words (medians within
 * 0.06 octave), 50 at 0.12 octave, ~2 at 0.2 octave, where clusterSpeakers splits voices.
 */
function matchScore(a: VoiceSignature, b: VoiceSignature): number {
  const d = Math.abs(a.median - b.median);
  return Math.round(100 / (1 + Math.exp((d - 0.12) / 0.02)));
}

/**
 * Assigns voiceprint labels to speakers from their scores: each speaker its best label at
 * or above the threshold, and with `exclusive` each label to one speaker at most (best
 * pairs first).
 */
function assignLabels(scores: Map<string, Record<string, number>>, matching: { exclusive: boolean; threshold: number }): Map<string, string | null> {
  const out = new Map<string, string | null>([...scores.keys()].map((s) => [s, null]));
  const pairs = [...scores].flatMap(([speaker, byLabel]) => Object.entries(byLabel).map(([label, score]) => ({ speaker, label, score })));
  pairs.sort((x, y) => y.score - x.score);
  const taken = new Set<string>();
  for (const p of pairs) {
    if (p.score < matching.threshold || out.get(p.speaker) !== null || (matching.exclusive && taken.has(p.label))) continue;
    out.set(p.speaker, p.label);
    taken.add(p.label);
  }
  return out;
}

export async function startPyannoteEmulator(opts: PyannoteEmulatorOptions = {}): Promise<PyannoteEmulator> {
  const apiKeys = opts.apiKeys ?? ['test-pyannote-key'];
  const rpm = opts.requestsPerMinute ?? 100;
  const mergeGap = opts.mergeGapSeconds ?? 0.5;
  const maxMediaBytes = opts.maxMediaBytes ?? PYANNOTE_MAX_MEDIA_BYTES;
  const maxAudioSeconds = opts.maxAudioSeconds ?? PYANNOTE_MAX_AUDIO_SECONDS;
  const resultsTtlMs = (opts.resultsTtlSeconds ?? PYANNOTE_RESULTS_TTL_SECONDS) * 1000;
  const mediaTtlMs = (opts.mediaTtlSeconds ?? 24 * 3600) * 1000;
  const expiredResults = opts.expiredResults ?? '404';
  const bandwidth = bandwidthOption(opts.uploadBandwidth);
  const ttl = opts.presignTtlSeconds ?? 3600;
  const webhookSecret = opts.webhookSecret ?? 'test-webhook-secret';
  const signingKey = randomBytes(32);
  const ownsStorage = !opts.storageDir;
  const storageDir = opts.storageDir ?? (await fsp.mkdtemp(join(tmpdir(), 'pyannote-emulator-')));
  await fsp.mkdir(storageDir, { recursive: true });

  const faults = new FaultPlan();
  const log = new RequestLog<PyannoteRequestLogEntry>(opts.logFile);
  const window = new RequestWindow(rpm);
  const jobs = new Map<string, PyannoteJob>();
  const media = new Map<string, StoredMedia>();
  /** Per job: stops its timers and analysis on reset/close. */
  const jobControl = new Map<string, AbortController>();
  let origin = '';

  // The emulator's notion of the time of day. Durations it models (queue delay, processing)
  // stay in real time; what the clock moves is when things happened and what has expired.
  const baseClock = opts.clock ?? Date.now;
  let clockOffsetMs = 0;
  const now = () => baseClock() + clockOffsetMs;
  const isoNow = () => new Date(now()).toISOString();
  function advanceClock(ms: number): void {
    if (!Number.isFinite(ms)) throw new Error(`advanceClock: expected a number of ms, got ${ms}`);
    clockOffsetMs += ms;
  }

  /** Deletes uploads older than mediaTtlSeconds, so a job or check asking for them finds none. */
  function dropExpiredMedia(): void {
    for (const [key, m] of media) {
      if (now() - Date.parse(m.uploadedAt) < mediaTtlMs) continue;
      media.delete(key);
      void fsp.rm(m.path, { force: true });
    }
  }

  /** A terminal job whose results were deleted resultsTtlSeconds after it completed. */
  const resultsExpired = (job: PyannoteJob) => job.completedAt !== undefined && now() - Date.parse(job.completedAt) >= resultsTtlMs;

  const sign = (key: string, expires: number) => createHmac('sha256', signingKey).update(`${key}\n${expires}`).digest('hex');

  const processingMs = (audioSeconds: number) =>
    latencyMs(
      { fixedMs: opts.latency?.fixedMs, perAudioSecondMs: opts.latency?.perAudioSecondMs ?? (opts.jobDurationFactor ?? 0) * 1000 },
      audioSeconds,
    );

  function touch(job: PyannoteJob, status: JobStatus, output?: JobOutput): void {
    job.status = status;
    job.updatedAt = isoNow();
    if (output) job.output = output;
    if (TERMINAL.includes(status)) {
      job.completedAt = job.updatedAt;
      jobControl.delete(job.jobId);
      if (job.request.webhook) void sendWebhook(job);
    }
  }

  async function sendWebhook(job: PyannoteJob): Promise<void> {
    const body = JSON.stringify({ jobId: job.jobId, status: job.status, ...(job.request.webhookStatusOnly ? {} : { output: job.output }) });
    // Real time, not the emulator clock: the receiver checks the timestamp against its own clock.
    const ts = String(Math.floor(Date.now() / 1000));
    const signature = createHmac('sha256', webhookSecret).update(`v0:${ts}:${body}`).digest('hex');
    try {
      await fetch(job.request.webhook!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-timestamp': ts, 'x-signature': signature },
        body,
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      console.error(`pyannote emulator: webhook for ${job.jobId} failed: ${(err as Error).message}`);
    }
  }

  function sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Fetches a public URL to a temp file; the emulator has no other way to read it. A file over maxMediaBytes fails the job. */
  async function download(url: string, signal: AbortSignal): Promise<string> {
    const res = await fetch(url, { signal });
    if (!res.ok || !res.body) throw new DecodeError(`download failed with HTTP ${res.status}`);
    const path = join(storageDir, `download-${randomUUID()}`);
    let bytes = 0;
    const capped = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        cb(bytes > maxMediaBytes ? new JobFailure(tooBigMessage(maxMediaBytes)) : null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(res.body as WebReadableStream), capped, createWriteStream(path));
    } catch (err) {
      await fsp.rm(path, { force: true });
      throw err;
    }
    return path;
  }

  /** The output of a job of any kind, from its analysed audio; JobFailure for audio the kind refuses. */
  async function computeOutput(job: PyannoteJob, analysis: AudioAnalysis, path: string): Promise<JobOutput> {
    if (job.kind === 'voiceprint') {
      if ((await fsp.stat(path)).size > VOICEPRINT_MAX_BYTES) throw new JobFailure(VOICEPRINT_TOO_BIG);
      if (analysis.duration > VOICEPRINT_MAX_SECONDS + 0.001) throw new JobFailure(VOICEPRINT_TOO_LONG);
      const sig = voiceSignature(analysis, speechRegions(analysis));
      if (!sig) throw new JobFailure(FAILED_MESSAGE);
      job.numSpeakers = 1;
      return { voiceprint: encodeVoiceprint(sig) };
    }
    if (analysis.duration > maxAudioSeconds) throw new JobFailure(tooLongMessage(analysis.duration, maxAudioSeconds));
    const request = job.request;
    const regions = clusterSpeakers(speechRegions(analysis), request);
    job.numSpeakers = new Set(regions.map((r) => r.speaker)).size;
    const diarization = mergePerSpeaker(regions, mergeGap);
    const output: JobOutput = { diarization };
    if (request.exclusive) output.exclusiveDiarization = exclusiveTurns(regions, mergeGap);
    const warnings = [speakerCountWarning(job.numSpeakers, request)];
    if (job.kind === 'diarize' && request.transcription) warnings.push('transcription is not emulated; only diarization is returned');
    const warning = warnings.filter(Boolean).join(' ');
    if (warning) output.warning = warning;
    if (job.kind === 'diarize') return output;
    const { voiceprints = [], matching = { exclusive: true, threshold: 0 } } = request;
    const enrolled = voiceprints.map((v) => ({ label: v.label, sig: decodeVoiceprint(v.voiceprint)! }));
    const scores = new Map<string, Record<string, number>>();
    for (const speaker of new Set(diarization.map((t) => t.speaker))) {
      const sig = voiceSignature(
        analysis,
        regions.filter((r) => r.speaker === speaker),
      );
      scores.set(speaker, Object.fromEntries(enrolled.map((v) => [v.label, sig ? matchScore(sig, v.sig) : 0])));
    }
    const matched = assignLabels(scores, matching);
    output.identification = diarization.map((t) => {
      const match = matched.get(t.speaker) ?? null;
      return { speaker: match ?? t.speaker, start: t.start, end: t.end, diarizationSpeaker: t.speaker, match };
    });
    output.voiceprints = [...scores].map(([speaker, confidence]) => ({ speaker, match: matched.get(speaker) ?? null, confidence }));
    return output;
  }

  async function runJob(job: PyannoteJob, failJob: boolean, signal: AbortSignal): Promise<void> {
    await sleep(opts.queueDelayMs ?? 20, signal);
    touch(job, 'running');
    const startedAt = Date.now();
    let downloaded: string | undefined;
    try {
      dropExpiredMedia();
      const url = job.request.url;
      const path = url.startsWith('media://') ? media.get(url.slice('media://'.length))?.path : (downloaded = await download(url, signal));
      if (!path) throw new DecodeError('media no longer available');
      const analysis = await analyzeAudio(path, { signal });
      job.audioSeconds = Math.round(analysis.duration * 1000) / 1000;
      const output = await computeOutput(job, analysis, path);
      await sleep(Math.max(0, startedAt + processingMs(analysis.duration) - Date.now()), signal);
      if (failJob) throw new Error('injected job failure');
      touch(job, 'succeeded', output);
    } catch (err) {
      if (signal.aborted) return;
      if (!(err instanceof DecodeError) && !(err instanceof JobFailure) && (err as Error).message !== 'injected job failure') {
        console.error(`pyannote emulator: job ${job.jobId} failed:`, err);
      }
      touch(job, 'failed', { error: err instanceof JobFailure ? err.message : FAILED_MESSAGE });
    } finally {
      if (downloaded) await fsp.rm(downloaded, { force: true });
    }
  }

  function stopJobs(): void {
    for (const c of jobControl.values()) c.abort(new Error('emulator reset'));
    jobControl.clear();
  }

  const reset = () => {
    stopJobs();
    clockOffsetMs = 0;
    log.clear();
    faults.clear();
    window.clear();
    jobs.clear();
    for (const m of media.values()) void fsp.rm(m.path, { force: true });
    media.clear();
  };

  async function readJson(req: IncomingMessage, entry: PyannoteRequestLogEntry): Promise<unknown> {
    const { body, bytes } = await readBody(req, 1 << 20, bandwidth);
    entry.bytes = bytes;
    if (!body) throw new HttpFailure(413, { message: 'Request body too large' });
    if (body.length === 0) return undefined;
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpFailure(400, { message: 'Request body is not valid JSON', errors: [] });
    }
  }

  async function handleUpload(req: IncomingMessage, res: ServerResponse, url: URL, entry: PyannoteRequestLogEntry): Promise<void> {
    const key = decodeURIComponent(url.pathname.slice('/storage/media/'.length));
    entry.mediaKey = key;
    const expires = Number(url.searchParams.get('expires'));
    const signature = url.searchParams.get('signature') ?? '';
    const expected = sign(key, expires);
    const valid = signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
    const s3Error = async (status: number, code: string, message: string, details: Record<string, string | number> = {}) => {
      try {
        entry.bytes = Math.max(entry.bytes, (await readBody(req, 0, bandwidth)).bytes);
      } catch {
        return;
      }
      const fields = Object.entries({ Code: code, Message: message, ...details, RequestId: entry.requestId })
        .map(([name, value]) => `<${name}>${value}</${name}>`)
        .join('');
      const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${fields}</Error>`;
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(xml)) }).end(xml);
    };
    // S3's answer to a body over the size a store takes. Like every refusal here it comes after
    // the body was read (and dropped), so the client reads the answer instead of a reset.
    const tooLarge = (proposedSize: number) =>
      s3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', { ProposedSize: proposedSize, MaxSizeAllowed: maxMediaBytes });
    if (req.method !== 'PUT') return s3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    if (!valid) return s3Error(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    if (expires * 1000 < now()) return s3Error(403, 'AccessDenied', 'Request has expired');
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxMediaBytes) return tooLarge(declared);

    const fileName = createHash('sha256').update(key).digest('hex');
    const tmp = join(storageDir, `${fileName}.${randomUUID()}.part`);
    const finalPath = join(storageDir, `${fileName}.media`);
    const md5 = createHash('md5');
    let bytes = 0;
    // A chunked body (no Content-Length) can still go over: from there on it is counted and
    // dropped, and read to its end so the client gets the answer.
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        if (bytes > maxMediaBytes) return cb();
        md5.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(bandwidth ? bandwidth.pace(req) : req, counter, createWriteStream(tmp));
    } catch {
      // The client went away mid-upload: nobody to answer, nothing kept.
      entry.bytes = bytes;
      await fsp.rm(tmp, { force: true });
      return;
    }
    entry.bytes = bytes;
    if (bytes > maxMediaBytes) {
      await fsp.rm(tmp, { force: true });
      return tooLarge(bytes);
    }
    // Rename after the whole body arrived: a job never reads half an upload.
    await fsp.rename(tmp, finalPath);
    media.set(key, { key, path: finalPath, bytes, uploadedAt: isoNow() });
    res.writeHead(200, { etag: `"${md5.digest('hex')}"`, 'content-length': '0' }).end();
  }

  function jobView(job: PyannoteJob) {
    return { jobId: job.jobId, status: job.status, createdAt: job.createdAt, updatedAt: job.updatedAt, ...(job.output ? { output: job.output } : {}) };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://emulator');
    const path = url.pathname;
    if (
      await handleAdmin(req, res, path, {
        requests: () => log.entries,
        faults,
        reset,
        state: () => ({ jobs: [...jobs.values()], media: [...media.values()] }),
        clock: { now, advance: advanceClock },
      })
    ) {
      return;
    }

    const requestId = randomUUID();
    const entry = trackRequest<PyannoteRequestLogEntry>(log, req, res, path, requestId, started);

    let endpoint: string | null = null;
    if (path.startsWith('/storage/media/')) endpoint = 'upload';
    else if (req.method === 'GET' && path === '/v1/test') endpoint = 'test';
    else if (req.method === 'POST' && path === '/v1/media/input') endpoint = 'media';
    else if (req.method === 'POST' && path === '/v1/diarize') endpoint = 'diarize';
    else if (req.method === 'POST' && path === '/v1/voiceprint') endpoint = 'voiceprint';
    else if (req.method === 'POST' && path === '/v1/identify') endpoint = 'identify';
    else if (req.method === 'GET' && /^\/v1\/jobs\/[^/]+$/.test(path)) endpoint = 'jobs';

    let headers: Record<string, string> = { 'x-request-id': requestId };
    const fail = async (f: HttpFailure) => {
      entry.error = f.message;
      try {
        entry.bytes = Math.max(entry.bytes, (await readBody(req, 0, bandwidth)).bytes);
      } catch {
        return;
      }
      sendJson(res, f.status, f.body, { ...headers, ...f.headers });
    };

    if (!endpoint) return fail(new HttpFailure(404, { message: `Cannot ${req.method} ${path}`, requestId }));

    const fault = faults.next(endpoint);
    let failJob = false;
    if (fault) {
      entry.fault = fault.kind;
      if (fault.kind === 'fail-job') failJob = true;
      else if (await applyFault(fault, req, res, fail, requestId, now(), bandwidth)) return;
    }

    if (endpoint === 'upload') return handleUpload(req, res, url, entry);

    const key = bearerToken(req);
    if (!key || !apiKeys.includes(key)) return fail(new HttpFailure(401, { message: 'Unauthorized', requestId }));
    const rate = window.hit(key, now(), opts.enforceRateLimit === true);
    headers = { ...headers, 'x-ratelimit-limit': String(rpm), 'x-ratelimit-remaining': String(rate.remaining) };
    if (rate.limited) {
      // Retry-After in whole seconds, rounded up so a client that waits it finds room;
      // X-RateLimit-Reset is when that room opens, in epoch seconds.
      const retry = Math.max(1, Math.ceil(rate.resetMs / 1000));
      return fail(
        new HttpFailure(429, { requestId, message: 'Too many requests' }, { 'retry-after': String(retry), 'x-ratelimit-reset': String(Math.ceil((now() + rate.resetMs) / 1000)) }),
      );
    }
    dropExpiredMedia();

    try {
      switch (endpoint) {
        case 'test':
          await readBody(req, 0, bandwidth);
          return sendJson(res, 200, { status: 'OK', message: 'API key is valid' }, headers);
        case 'media': {
          const body = (await readJson(req, entry)) as { url?: unknown } | undefined;
          const mediaUrl = body?.url;
          if (typeof mediaUrl !== 'string' || mediaUrl.length > 255 || !MEDIA_URL.test(mediaUrl)) {
            throw new HttpFailure(400, {
              message: 'Validation failed',
              errors: [{ field: 'url', message: 'url must match ^media://[a-zA-Z0-9\\-_./]+$ and be at most 255 characters' }],
            });
          }
          const mediaKey = mediaUrl.slice('media://'.length);
          entry.mediaKey = mediaKey;
          const expires = Math.floor(now() / 1000) + ttl;
          const encoded = mediaKey.split('/').map(encodeURIComponent).join('/');
          return sendJson(res, 201, { url: `${origin}/storage/media/${encoded}?expires=${expires}&signature=${sign(mediaKey, expires)}` }, headers);
        }
        case 'diarize':
        case 'voiceprint':
        case 'identify': {
          const body = await readJson(req, entry);
          const request =
            endpoint === 'diarize' ? validateDiarize(body, media) : endpoint === 'voiceprint' ? validateVoiceprint(body, media) : validateIdentify(body, media);
          const createdAt = isoNow();
          const job: PyannoteJob = { jobId: randomUUID(), kind: endpoint, status: 'created', createdAt, updatedAt: createdAt, request, audioSeconds: null, numSpeakers: null };
          jobs.set(job.jobId, job);
          entry.jobId = job.jobId;
          const control = new AbortController();
          jobControl.set(job.jobId, control);
          void runJob(job, failJob, control.signal).catch(() => undefined);
          return sendJson(res, 200, { jobId: job.jobId, status: job.status }, headers);
        }
        case 'jobs': {
          await readBody(req, 0, bandwidth);
          const jobId = decodeURIComponent(path.slice('/v1/jobs/'.length));
          entry.jobId = jobId;
          const job = jobs.get(jobId);
          const expired = job !== undefined && resultsExpired(job);
          // Deleted results, in whichever of the two ways the contract leaves open.
          if (!job || (expired && expiredResults === '404')) throw new HttpFailure(404, { message: `Job ${jobId} not found`, requestId });
          if (expired) {
            const { output: _deleted, ...view } = jobView(job);
            return sendJson(res, 200, view, headers);
          }
          return sendJson(res, 200, jobView(job), headers);
        }
      }
    } catch (err) {
      if (err instanceof HttpFailure) return fail(err);
      if (!req.complete || res.destroyed) return;
      console.error('pyannote emulator: unexpected error', err);
      return fail(new HttpFailure(500, { message: 'Internal server error', requestId }));
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      console.error('pyannote emulator: handler crashed', err);
      if (!res.headersSent) sendJson(res, 500, { message: 'emulator crashed' });
    });
  });
  server.requestTimeout = 0;
  origin = await listen(server, opts.port ?? 0, opts.host ?? '127.0.0.1');

  return {
    url: origin,
    port: Number(new URL(origin).port),
    requests: log.entries,
    jobs,
    media,
    faults,
    now,
    advanceClock,
    reset,
    async close() {
      stopJobs();
      await closeServer(server);
      await log.close();
      if (ownsStorage) await fsp.rm(storageDir, { recursive: true, force: true });
    },
  };
}

const STATUS_MESSAGES: Record<number, string> = {
  401: 'Unauthorized',
  402: 'Payment required: your subscription or budget does not cover this request',
  429: 'Too many requests',
  500: 'Internal server error',
  502: 'Bad gateway',
  503: 'Service unavailable',
};

/** Returns true when the fault finished the request, false to continue normally. */
async function applyFault(
  fault: Exclude<FaultAction, { kind: 'fail-job' }>,
  req: IncomingMessage,
  res: ServerResponse,
  fail: (f: HttpFailure) => Promise<void>,
  requestId: string,
  nowMs: number,
  bandwidth: Bandwidth | undefined,
): Promise<boolean> {
  if (isConnectionFault(fault)) return applyConnectionFault(fault, req, res, undefined, bandwidth);
  switch (fault.kind) {
    case 'status': {
      const headers: Record<string, string> = {};
      if (fault.status === 429 || fault.retryAfterSeconds !== undefined) {
        // A 429 always says when to come back; given only in ms, the seconds are that rounded up.
        const retry = Math.ceil(fault.retryAfterSeconds ?? (fault.retryAfterMs !== undefined ? Math.max(1, fault.retryAfterMs / 1000) : 1));
        headers['retry-after'] = String(retry);
        if (fault.status === 429) {
          headers['x-ratelimit-remaining'] = '0';
          headers['x-ratelimit-reset'] = String(Math.ceil(nowMs / 1000) + retry);
        }
      }
      if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
      if (fault.shouldRetry !== undefined) headers['x-should-retry'] = String(fault.shouldRetry);
      const message = fault.message ?? STATUS_MESSAGES[fault.status] ?? `Emulated error ${fault.status}`;
      await fail(new HttpFailure(fault.status, { requestId, message, ...(fault.code ? { code: fault.code } : {}) }, headers));
      return true;
    }
  }
}
