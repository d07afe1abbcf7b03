/**
 * Local emulator of OpenAI `POST /v1/audio/transcriptions`, written to
 * contracts/openai-transcriptions.md: multipart parsing, models and their formats,
 * limits, error envelopes, rate-limit headers. Transcripts are derived from the audio
 * received (speech regions, word-like units, pitch clusters), so timing and speaker
 * behaviour in tests are real even though the words are pseudo-words.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { extname } from 'node:path';
import { AnalysisPool } from './analysis-pool';
import { type AudioAnalysis, DecodeError, pitchesIn, speechRegions } from './audio-analysis';
import { type Bandwidth, bandwidthOption } from './bandwidth';
import { type FaultAction, FaultPlan, type LatencyModel, latencyMs } from './faults';
import {
  type LogEntryBase,
  RequestLog,
  applyConnectionFault,
  isConnectionFault,
  RequestWindow,
  bearerToken,
  closeServer,
  handleAdmin,
  listen,
  readBody,
  sendJson,
  sendText,
  waitUnlessClosed,
trackRequest } from './emulator-http';
import { MultipartError, type MultipartPart, multipartBoundary, parseMultipart } from './multipart';
import { type PseudoTranscript, type PseudoWord, pseudoTranscript } from './pseudo-transcript';

/** Models an account lists that are not transcription models (the list is not only audio). */
const OTHER_LISTED_MODELS = ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small', 'tts-1'];

export interface OpenAIEmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  apiKeys?: string[];
  latency?: LatencyModel;
  /** Appends each request log entry as a JSON line. */
  logFile?: string;
  /** Request body cap; the real service's is 25 MiB. */
  maxBodyBytes?: number;
  /** Value of x-ratelimit-limit-requests. */
  requestsPerMinute?: number;
  /** Answer 429 once a key exceeds requestsPerMinute (off by default: tests poll fast). */
  enforceRateLimit?: boolean;
  /** Whisper's habit of transcribing silence as "Thank you." (with a high no_speech_prob). */
  hallucinateOnSilence?: boolean;
  /**
   * The client's upload link: request bodies are read no faster than this. A Bandwidth from
   * createBandwidth() shared with the pyannote emulator models one link both providers'
   * uploads go through; a number is bytes per second on a link of this emulator's own.
   * Unlimited by default.
   */
  uploadBandwidth?: Bandwidth | number;
}

export interface OpenAIRequestLogEntry extends LogEntryBase {
  model?: string;
  responseFormat?: string;
  language?: string;
  prompt?: string;
  filename?: string;
  /** sha256 of the file part's bytes: the same audio sent again has the same one. */
  fileSha256?: string;
  audioSeconds?: number;
  /** Error message sent, for failed requests. */
  error?: string;
  /** known_speaker_names[] as sent (diarization models). */
  knownSpeakerNames?: string[];
  /** Length in seconds of each known_speaker_references[] clip, in the order sent. */
  knownSpeakerReferenceSeconds?: number[];
  /** chunking_strategy as sent: 'auto', or the server_vad object as JSON. */
  chunkingStrategy?: string;
}

export interface OpenAIEmulator {
  /** Base URL for the `openai` package's `baseURL` (ends in /v1). */
  readonly url: string;
  /** Scheme, host and port only; the admin API lives under `${origin}/__emulator/`. */
  readonly origin: string;
  readonly port: number;
  readonly requests: OpenAIRequestLogEntry[];
  readonly faults: FaultPlan;
  /** Requests received and not yet answered or abandoned by their client. */
  readonly inFlight: number;
  /** Clears the request log, faults and rate-limit windows. */
  reset(): void;
  close(): Promise<void>;
}

export const MAX_BODY_BYTES = 26_214_400;
export const SUPPORTED_EXTENSIONS = ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm'];
const ALL_FORMATS = ['json', 'text', 'srt', 'verbose_json', 'vtt', 'diarized_json'];

interface ModelSpec {
  formats: string[];
  /** Seconds; reported as ≈1400 for the gpt-4o family. */
  maxSeconds?: number;
  usage: 'duration' | 'tokens';
  diarize?: boolean;
  logprobs?: boolean;
}

const MODELS: Record<string, ModelSpec> = {
  'whisper-1': { formats: ['json', 'text', 'srt', 'vtt', 'verbose_json'], usage: 'duration' },
  'gpt-4o-transcribe': { formats: ['json', 'text'], maxSeconds: 1400, usage: 'tokens', logprobs: true },
  'gpt-4o-mini-transcribe': { formats: ['json', 'text'], maxSeconds: 1400, usage: 'tokens', logprobs: true },
  'gpt-4o-transcribe-diarize': { formats: ['json', 'text', 'diarized_json'], maxSeconds: 1400, usage: 'tokens', diarize: true },
};

/** Output tokens after which gpt-4o transcripts come back cut short (reported behaviour). */
const MAX_OUTPUT_TOKENS = 2000;
const TOKENS_PER_WORD = 1.3;

/** Whisper's language table: ISO-639-1 code → the lowercase name verbose_json reports. */
const LANGUAGES: Record<string, string> = {
  en: 'english', zh: 'chinese', de: 'german', es: 'spanish', ru: 'russian', ko: 'korean', fr: 'french', ja: 'japanese',
  pt: 'portuguese', tr: 'turkish', pl: 'polish', ca: 'catalan', nl: 'dutch', ar: 'arabic', sv: 'swedish', it: 'italian',
  id: 'indonesian', hi: 'hindi', fi: 'finnish', vi: 'vietnamese', he: 'hebrew', uk: 'ukrainian', el: 'greek', ms: 'malay',
  cs: 'czech', ro: 'romanian', da: 'danish', hu: 'hungarian', ta: 'tamil', no: 'norwegian', th: 'thai', ur: 'urdu',
  hr: 'croatian', bg: 'bulgarian', lt: 'lithuanian', la: 'latin', mi: 'maori', ml: 'malayalam', cy: 'welsh', sk: 'slovak',
  te: 'telugu', fa: 'persian', lv: 'latvian', bn: 'bengali', sr: 'serbian', az: 'azerbaijani', sl: 'slovenian',
  kn: 'kannada', et: 'estonian', mk: 'macedonian', br: 'breton', eu: 'basque', is: 'icelandic', hy: 'armenian',
  ne: 'nepali', mn: 'mongolian', bs: 'bosnian', kk: 'kazakh', sq: 'albanian', sw: 'swahili', gl: 'galician',
  mr: 'marathi', pa: 'punjabi', si: 'sinhala', km: 'khmer', sn: 'shona', yo: 'yoruba', so: 'somali', af: 'afrikaans',
  oc: 'occitan', ka: 'georgian', be: 'belarusian', tg: 'tajik', sd: 'sindhi', gu: 'gujarati', am: 'amharic',
  yi: 'yiddish', lo: 'lao', uz: 'uzbek', fo: 'faroese', ht: 'haitian creole', ps: 'pashto', tk: 'turkmen',
  nn: 'nynorsk', mt: 'maltese', sa: 'sanskrit', lb: 'luxembourgish', my: 'myanmar', bo: 'tibetan', tl: 'tagalog',
  mg: 'malagasy', as: 'assamese', tt: 'tatar', ln: 'lingala', ha: 'hausa', ba: 'bashkir', jw: 'javanese',
  su: 'sundanese', yue: 'cantonese', haw: 'hawaiian',
};

/** Answer for a request that failed: status plus the OpenAI error envelope fields. */
class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const badRequest = (message: string, param: string | null, code: string | null = 'invalid_value') =>
  new ApiFailure(400, message, 'invalid_request_error', param, code);

/** The real service shows a key's first characters and last three, never the middle. */
export function maskKey(key: string): string {
  return key.length > 8 ? `${key.slice(0, 5)}****${key.slice(-3)}` : '****';
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1).replace(/\.0$/, '')}s`;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

interface TranscriptionParams {
  model: string;
  spec: ModelSpec;
  responseFormat: string;
  granularities: Set<string>;
  language?: string;
  prompt?: string;
  temperature: number;
  includeLogprobs: boolean;
  chunkingStrategy?: unknown;
  knownSpeakerNames: string[];
  knownSpeakerReferences: string[];
  file: MultipartPart & { filename: string };
}

/** Text fields by name; `key[]` parts accumulate, others keep their first value. */
function collectFields(parts: MultipartPart[]): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const p of parts) {
    if (p.filename !== undefined) continue;
    const list = fields.get(p.name) ?? [];
    list.push(p.data.toString('utf8'));
    fields.set(p.name, list);
  }
  return fields;
}

function parseChunkingStrategy(fields: Map<string, string[]>): unknown {
  const direct = fields.get('chunking_strategy')?.[0];
  if (direct !== undefined) {
    if (direct === 'auto') return 'auto';
    try {
      const obj = JSON.parse(direct) as { type?: unknown };
      if (obj && typeof obj === 'object' && obj.type === 'server_vad') return obj;
    } catch {
      /* reported below */
    }
    throw badRequest(`Invalid chunking_strategy: expected 'auto' or an object with type 'server_vad'.`, 'chunking_strategy');
  }
  const sub = [...fields.entries()].filter(([k]) => k.startsWith('chunking_strategy['));
  if (sub.length === 0) return undefined;
  const obj: Record<string, string> = {};
  for (const [k, v] of sub) obj[k.slice('chunking_strategy['.length, -1)] = v[0] ?? '';
  if (obj.type !== 'server_vad') throw badRequest(`Invalid value for 'chunking_strategy.type': expected 'server_vad'.`, 'chunking_strategy.type');
  for (const key of ['prefix_padding_ms', 'silence_duration_ms', 'threshold']) {
    if (obj[key] !== undefined && !Number.isFinite(Number(obj[key]))) throw badRequest(`Invalid value for 'chunking_strategy.${key}': expected a number.`, `chunking_strategy.${key}`);
  }
  return obj;
}

/** Validation in the order the service reports problems: model, then options, then the file. */
function parseParams(parts: MultipartPart[]): TranscriptionParams {
  const fields = collectFields(parts);
  const first = (name: string) => fields.get(name)?.[0];
  const list = (name: string) => [...(fields.get(`${name}[]`) ?? []), ...(fields.get(name) ?? [])];

  const model = first('model');
  if (!model) throw badRequest('you must provide a model parameter', 'model', null);
  const spec = MODELS[model];
  if (!spec) throw new ApiFailure(404, `The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model', 'model_not_found');

  const responseFormat = first('response_format') ?? 'json';
  if (!ALL_FORMATS.includes(responseFormat)) {
    throw badRequest(`Invalid value: '${responseFormat}'. Supported values are: ${ALL_FORMATS.map((f) => `'${f}'`).join(', ')}.`, 'response_format');
  }
  if (!spec.formats.includes(responseFormat)) {
    throw badRequest(
      `response_format '${responseFormat}' is not compatible with model '${model}'. Use ${spec.formats.map((f) => `'${f}'`).join(' or ')} instead.`,
      'response_format',
      'unsupported_value',
    );
  }

  const granularities = new Set(list('timestamp_granularities'));
  for (const g of granularities) {
    if (g !== 'word' && g !== 'segment') throw badRequest(`Invalid value: '${g}'. Supported values are: 'word' and 'segment'.`, 'timestamp_granularities');
  }
  if (granularities.size > 0 && responseFormat !== 'verbose_json') {
    throw badRequest(`timestamp_granularities is only supported with response_format 'verbose_json'.`, 'timestamp_granularities', 'unsupported_value');
  }

  const language = first('language');
  if (language !== undefined && !LANGUAGES[language.toLowerCase()]) {
    throw badRequest(`Invalid language '${language}'. Language parameter must be specified in ISO-639-1 format.`, 'language');
  }

  const temperatureRaw = first('temperature');
  const temperature = temperatureRaw === undefined ? 0 : Number(temperatureRaw);
  if (!Number.isFinite(temperature) || temperature < 0 || temperature > 1) {
    throw badRequest(`Invalid 'temperature': expected a number between 0 and 1, got '${temperatureRaw}'.`, 'temperature');
  }

  const prompt = first('prompt');
  if (prompt !== undefined && spec.diarize) throw badRequest(`prompt is not supported with model '${model}'.`, 'prompt', 'unsupported_value');

  const include = list('include');
  for (const inc of include) if (inc !== 'logprobs') throw badRequest(`Invalid value: '${inc}'. Supported values are: 'logprobs'.`, 'include');
  const includeLogprobs = include.length > 0;
  if (includeLogprobs && (!spec.logprobs || responseFormat !== 'json')) {
    throw badRequest(`logprobs are only supported for gpt-4o-transcribe and gpt-4o-mini-transcribe with response_format 'json'.`, 'include', 'unsupported_value');
  }

  const chunkingStrategy = parseChunkingStrategy(fields);
  const knownSpeakerNames = list('known_speaker_names');
  const knownSpeakerRefs = list('known_speaker_references');
  if (knownSpeakerNames.length > 4 || knownSpeakerRefs.length > 4) throw badRequest('At most 4 known speakers are supported.', 'known_speaker_names');
  if (knownSpeakerNames.length !== knownSpeakerRefs.length) {
    throw badRequest('known_speaker_names and known_speaker_references must have the same length.', 'known_speaker_references');
  }
  if (knownSpeakerNames.length > 0 && !spec.diarize) throw badRequest(`known_speaker_names is only supported with diarization models.`, 'known_speaker_names', 'unsupported_value');

  const file = parts.find((p) => p.name === 'file');
  if (!file) throw badRequest("Missing required parameter: 'file'.", 'file', 'missing_required_parameter');
  const filename = file.filename ?? '';
  const ext = extname(filename).slice(1).toLowerCase();
  if (!SUPPORTED_EXTENSIONS.includes(ext)) {
    throw badRequest(`Invalid file format. Supported formats: [${SUPPORTED_EXTENSIONS.map((e) => `'${e}'`).join(', ')}]`, 'file', 'unsupported_value');
  }

  return {
    model,
    spec,
    responseFormat,
    granularities,
    language: language?.toLowerCase(),
    prompt,
    temperature,
    includeLogprobs,
    chunkingStrategy,
    knownSpeakerNames,
    knownSpeakerReferences: knownSpeakerRefs,
    file: { ...file, filename },
  };
}

function srtTime(t: number, sep: ',' | '.'): string {
  const ms = Math.round(t * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

/** Whisper-like per-segment numbers, derived from the words so they vary with the audio. */
function segmentStats(words: PseudoWord[], text: string) {
  const meanDb = words.reduce((s, w) => s + w.meanDb, 0) / Math.max(1, words.length);
  const unique = new Set(words.map((w) => w.word.toLowerCase())).size;
  return {
    tokens: [50364, ...words.map((w) => 220 + (w.fingerprint % 50000)), 50257 + (text.length % 100)],
    avg_logprob: Math.round(Math.max(-1.5, Math.min(-0.05, -0.15 + (meanDb + 20) / 100)) * 10000) / 10000,
    compression_ratio: Math.round((1 + (words.length - unique) / Math.max(1, words.length) + text.length / 400) * 10000) / 10000,
    no_speech_prob: Math.round(Math.max(0.0005, Math.min(0.5, 10 ** ((-meanDb - 60) / 20))) * 1e6) / 1e6,
  };
}

function tokenUsage(t: PseudoTranscript, duration: number, prompt?: string) {
  const audioTokens = Math.ceil(duration * 10);
  const textTokens = prompt ? Math.ceil(prompt.length / 4) : 0;
  const output = Math.ceil(t.words.length * TOKENS_PER_WORD);
  return {
    type: 'tokens',
    input_tokens: audioTokens + textTokens,
    input_token_details: { text_tokens: textTokens, audio_tokens: audioTokens },
    output_tokens: output,
    total_tokens: audioTokens + textTokens + output,
  };
}

/** gpt-4o models stop after MAX_OUTPUT_TOKENS: long inputs come back truncated. */
function truncateForTokens(t: PseudoTranscript): PseudoTranscript {
  const maxWords = Math.floor(MAX_OUTPUT_TOKENS / TOKENS_PER_WORD);
  if (t.words.length <= maxWords) return t;
  const kept = new Set(t.words.slice(0, maxWords));
  const segments = t.segments
    .map((s) => {
      const words = s.words.filter((w) => kept.has(w));
      return { ...s, words, end: words[words.length - 1]?.end ?? s.end, text: ` ${words.map((w) => w.word).join(' ')}` };
    })
    .filter((s) => s.words.length > 0);
  return { ...t, words: [...kept], segments, text: segments.map((s) => s.text).join('').trim() };
}

type Reply = { kind: 'json'; body: unknown } | { kind: 'text'; body: string };

/** A known_speaker_references[] clip reduced to its voice: the median log2 pitch (Hz) of each stretch of its speech. */
interface KnownVoice {
  name: string;
  logPitches: number[];
}

/** A reference this close in pitch to a speaker's speech would join that speaker's cluster (clusterSpeakers splits voices 0.2 octave apart). */
const SAME_VOICE_OCTAVES = 0.2;

/** Reference clips the service takes: 2–10 s of audio, as data URLs. */
const REFERENCE_MIN_SECONDS = 2;
const REFERENCE_MAX_SECONDS = 10;
const DATA_URL = /^data:[a-z0-9.+-]+\/[a-z0-9.+-]+(?:;[^;,]*)*;base64,([A-Za-z0-9+/=\s]*)$/i;

/** Decodes and measures each known speaker's reference clip; 400 for one that is not a 2–10 s audio data URL. */
async function knownVoices(p: TranscriptionParams, analyze: (data: Buffer) => Promise<AudioAnalysis>): Promise<{ voices: KnownVoice[]; seconds: number[] }> {
  const voices: KnownVoice[] = [];
  const seconds: number[] = [];
  for (const [i, ref] of p.knownSpeakerReferences.entries()) {
    const param = `known_speaker_references[${i}]`;
    const m = DATA_URL.exec(ref);
    if (!m) throw badRequest(`Invalid '${param}': expected a base64 data URL of an audio clip (data:audio/wav;base64,...).`, param);
    let a: AudioAnalysis;
    try {
      a = await analyze(Buffer.from(m[1]!, 'base64'));
    } catch (err) {
      if (err instanceof DecodeError) throw badRequest(`Invalid '${param}': the audio could not be decoded.`, param);
      throw err;
    }
    if (a.duration < REFERENCE_MIN_SECONDS - 0.01 || a.duration > REFERENCE_MAX_SECONDS + 0.01) {
      throw badRequest(`Invalid '${param}': the clip is ${a.duration.toFixed(2)} seconds long; reference clips must be ${REFERENCE_MIN_SECONDS} to ${REFERENCE_MAX_SECONDS} seconds.`, param);
    }
    seconds.push(round2(a.duration));
    const logPitches = speechRegions(a).flatMap((r) => medianLogPitch(a, [r]) ?? []);
    voices.push({ name: p.knownSpeakerNames[i]!, logPitches });
  }
  return { voices, seconds };
}

function medianLogPitch(a: AudioAnalysis, spans: readonly { start: number; end: number }[]): number | null {
  const values = spans.flatMap((s) => pitchesIn(a, s)).map((hz) => Math.log2(hz));
  if (values.length < 3) return null;
  values.sort((x, y) => x - y);
  return values[values.length >> 1]!;
}

/**
 * Names the speakers of a diarized answer the way the clustering tells voices apart: a known
 * speaker's reference whose speech lies within SAME_VOICE_OCTAVES of a speaker's segments
 * (pitch medians) names that speaker, the closest pairs first and each name once; the others
 * are A, B, … in order of first appearance.
 */
function speakerNames(t: PseudoTranscript, a: AudioAnalysis, known: readonly KnownVoice[]): Map<string, string> {
  const order = [...new Set(t.segments.map((s) => s.speaker))];
  const pairs: { speaker: string; name: string; d: number }[] = [];
  for (const speaker of order) {
    const pitches = t.segments.filter((s) => s.speaker === speaker).flatMap((s) => medianLogPitch(a, [s]) ?? []);
    for (const k of known) {
      const d = Math.min(...pitches.flatMap((x) => k.logPitches.map((y) => Math.abs(x - y))));
      if (d < SAME_VOICE_OCTAVES) pairs.push({ speaker, name: k.name, d });
    }
  }
  pairs.sort((x, y) => x.d - y.d);
  const names = new Map<string, string>();
  const taken = new Set<string>();
  for (const q of pairs) {
    if (names.has(q.speaker) || taken.has(q.name)) continue;
    names.set(q.speaker, q.name);
    taken.add(q.name);
  }
  let letters = 0;
  for (const speaker of order) if (!names.has(speaker)) names.set(speaker, letterName(letters++));
  return names;
}

function buildReply(p: TranscriptionParams, a: AudioAnalysis, hallucinate: boolean, known: readonly KnownVoice[] = []): Reply {
  const duration = a.duration;
  let t = pseudoTranscript(a);
  if (t.words.length === 0 && hallucinate && p.model === 'whisper-1') {
    const end = Math.min(duration, 2);
    const w: PseudoWord = { word: 'Thank', start: 0, end: end / 2, speaker: 'SPEAKER_00', meanDb: -90, fingerprint: 7 };
    const w2: PseudoWord = { ...w, word: 'you.', start: end / 2, end };
    t = { text: 'Thank you.', words: [w, w2], segments: [{ start: 0, end, text: ' Thank you.', speaker: 'SPEAKER_00', words: [w, w2] }], speechSeconds: 0 };
  }
  if (p.spec.usage === 'tokens') t = truncateForTokens(t);
  const usage = p.spec.usage === 'duration' ? { type: 'duration', seconds: Math.ceil(duration) } : tokenUsage(t, duration, p.prompt);

  switch (p.responseFormat) {
    case 'text':
      return { kind: 'text', body: `${t.text}\n` };
    case 'srt':
      return {
        kind: 'text',
        body: t.segments.map((s, i) => `${i + 1}\n${srtTime(s.start, ',')} --> ${srtTime(s.end, ',')}\n${s.text.trim()}\n\n`).join(''),
      };
    case 'vtt':
      return {
        kind: 'text',
        body: `WEBVTT\n\n${t.segments.map((s) => `${srtTime(s.start, '.')} --> ${srtTime(s.end, '.')}\n${s.text.trim()}\n\n`).join('')}`,
      };
    case 'verbose_json': {
      const granularities = p.granularities.size ? p.granularities : new Set(['segment']);
      const body: Record<string, unknown> = {
        task: 'transcribe',
        language: LANGUAGES[p.language ?? 'en'],
        duration: round2(duration),
        text: t.text,
      };
      if (granularities.has('segment')) {
        body.segments = t.segments.map((s, id) => ({
          id,
          seek: Math.floor(s.start / 30) * 3000,
          start: round2(s.start),
          end: round2(s.end),
          text: s.text,
          ...(() => {
            const st = segmentStats(s.words, s.text);
            return { tokens: st.tokens, temperature: p.temperature, avg_logprob: st.avg_logprob, compression_ratio: st.compression_ratio, no_speech_prob: t.speechSeconds === 0 ? 0.92 : st.no_speech_prob };
          })(),
        }));
      }
      if (granularities.has('word')) body.words = t.words.map((w) => ({ word: w.word, start: round2(w.start), end: round2(w.end) }));
      body.usage = usage;
      return { kind: 'json', body };
    }
    case 'diarized_json': {
      // Known speakers whose reference voice is heard keep their names; the others are A, B, ….
      const names = speakerNames(t, a, known);
      return {
        kind: 'json',
        body: {
          task: 'transcribe',
          duration: round2(duration),
          text: t.text,
          segments: t.segments.map((s, i) => ({
            type: 'transcript.text.segment',
            id: `seg_${String(i + 1).padStart(3, '0')}`,
            start: round2(s.start),
            end: round2(s.end),
            text: s.text.trim(),
            speaker: names.get(s.speaker)!,
          })),
          usage,
        },
      };
    }
    default: {
      const body: Record<string, unknown> = { text: t.text, usage };
      if (p.includeLogprobs) {
        body.logprobs = t.words.map((w) => ({ token: w.word, logprob: -((w.fingerprint % 997) / 997) * 0.3, bytes: [...Buffer.from(w.word)] }));
      }
      return { kind: 'json', body };
    }
  }
}

function letterName(i: number): string {
  return i < 26 ? String.fromCharCode(65 + i) : `S${i}`;
}

export async function startOpenAIEmulator(opts: OpenAIEmulatorOptions = {}): Promise<OpenAIEmulator> {
  const apiKeys = opts.apiKeys ?? ['test-openai-key'];
  const pool = new AnalysisPool();
  const maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const rpm = opts.requestsPerMinute ?? 500;
  const faults = new FaultPlan();
  const log = new RequestLog<OpenAIRequestLogEntry>(opts.logFile);
  const window = new RequestWindow(rpm);
  const bandwidth = bandwidthOption(opts.uploadBandwidth);

  const reset = () => {
    log.clear();
    faults.clear();
    window.clear();
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const path = new URL(req.url ?? '/', 'http://emulator').pathname;
    if (await handleAdmin(req, res, path, { requests: () => log.entries, faults, reset })) return;

    const requestId = `req_${randomBytes(16).toString('hex')}`;
    const entry = trackRequest<OpenAIRequestLogEntry>(log, req, res, path, requestId, started);

    const key = bearerToken(req);
    const rate = window.hit(key ?? '', Date.now(), opts.enforceRateLimit === true);
    const headers: Record<string, string> = {
      'x-request-id': requestId,
      'openai-version': '2020-10-01',
      'x-ratelimit-limit-requests': String(rpm),
      'x-ratelimit-remaining-requests': String(rate.remaining),
      'x-ratelimit-reset-requests': formatDuration(rate.resetMs),
    };
    const fail = (f: ApiFailure) => {
      entry.error = f.message;
      sendJson(res, f.status, { error: { message: f.message, type: f.type, param: f.param, code: f.code } }, { ...headers, ...f.headers });
    };
    const drainAndFail = async (f: ApiFailure) => {
      try {
        entry.bytes = (await readBody(req, 0, bandwidth)).bytes;
      } catch {
        return; // client went away; nobody to answer
      }
      fail(f);
    };

    // GET /v1/models (and /v1/models/{id}): the account's models, free, authenticated like
    // every endpoint; clients use it to check a key and a model name before paying.
    if (req.method === 'GET' && (path === '/v1/models' || path.startsWith('/v1/models/'))) {
      if (!key || !apiKeys.includes(key)) {
        return drainAndFail(
          new ApiFailure(401, key ? `Incorrect API key provided: ${maskKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.` : "You didn't provide an API key.", 'invalid_request_error', null, key ? 'invalid_api_key' : null),
        );
      }
      const listed = [...Object.keys(MODELS), ...OTHER_LISTED_MODELS].map((id) => ({ id, object: 'model', created: 1677532384, owned_by: id.startsWith('whisper') ? 'openai-internal' : 'system' }));
      if (path === '/v1/models') return sendJson(res, 200, { object: 'list', data: listed }, headers);
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      const model = listed.find((m) => m.id === id);
      if (!model) return fail(new ApiFailure(404, `The model '${id}' does not exist`, 'invalid_request_error', 'model', 'model_not_found'));
      return sendJson(res, 200, model, headers);
    }

    if (!(req.method === 'POST' && path === '/v1/audio/transcriptions')) {
      return drainAndFail(new ApiFailure(404, `Invalid URL (${req.method} ${path})`, 'invalid_request_error'));
    }

    const fault = faults.next('transcriptions');
    if (fault) {
      entry.fault = fault.kind;
      const done = await applyFault(fault, req, res, headers, drainAndFail, (r) => (entry.bytes = r), bandwidth);
      if (done) return;
    }

    if (!key) {
      return drainAndFail(
        new ApiFailure(
          401,
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
          'invalid_request_error',
        ),
      );
    }
    if (!apiKeys.includes(key)) {
      return drainAndFail(
        new ApiFailure(401, `Incorrect API key provided: ${maskKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', null, 'invalid_api_key'),
      );
    }
    if (rate.limited) {
      return drainAndFail(
        new ApiFailure(429, `Rate limit reached for requests per min (RPM): Limit ${rpm}, Used ${rate.used}, Requested 1. Please try again in ${formatDuration(rate.resetMs)}.`, 'requests', null, 'rate_limit_exceeded', {
          'retry-after': String(Math.max(1, Math.ceil(rate.resetMs / 1000))),
        }),
      );
    }

    let body: Buffer | null;
    let received: number;
    try {
      const read = await readBody(req, maxBody, bandwidth);
      received = Date.now();
      body = read.body;
      entry.bytes = read.bytes;
    } catch {
      return; // client went away mid-upload
    }
    if (!body) {
      return fail(new ApiFailure(413, `Maximum content size limit (${maxBody}) exceeded (${entry.bytes} bytes read)`, 'server_error'));
    }

    try {
      const boundary = multipartBoundary(req.headers['content-type']);
      if (!boundary) {
        throw badRequest(
          `Invalid Content-Type header (${req.headers['content-type'] ?? 'none'}), expected multipart/form-data. (HINT: If you're using curl, you can pass -H 'Content-Type: multipart/form-data')`,
          null,
          null,
        );
      }
      let parts: MultipartPart[];
      try {
        parts = parseMultipart(body, boundary);
      } catch (err) {
        if (err instanceof MultipartError) throw badRequest(`Could not parse multipart form: ${err.message}`, null, null);
        throw err;
      }
      const fields = collectFields(parts);
      entry.model = fields.get('model')?.[0];
      entry.responseFormat = fields.get('response_format')?.[0] ?? 'json';
      entry.language = fields.get('language')?.[0];
      entry.prompt = fields.get('prompt')?.[0];
      const filePart = parts.find((p) => p.name === 'file');
      entry.filename = filePart?.filename;
      if (filePart) entry.fileSha256 = createHash('sha256').update(filePart.data).digest('hex');

      const params = parseParams(parts);
      let analysis: AudioAnalysis;
      try {
        // Fine pitch tracking is only needed to tell speakers apart (diarized_json); the other
        // answers need energy only, so a coarse pitch track keeps the emulator cheap on long audio.
        analysis = await pool.analyze(params.file.data, { pitchHopSeconds: params.responseFormat === 'diarized_json' ? 0.05 : 1 });
      } catch (err) {
        if (err instanceof DecodeError) throw badRequest('Audio file might be corrupted or unsupported', 'file', 'invalid_value');
        throw err;
      }
      entry.audioSeconds = Math.round(analysis.duration * 1000) / 1000;
      if (analysis.duration < 0.1) {
        throw badRequest(`Audio file is too short. Minimum audio length is 0.1 seconds.`, 'file', 'audio_too_short');
      }
      if (params.spec.maxSeconds !== undefined && analysis.duration > params.spec.maxSeconds) {
        throw badRequest(
          `audio duration ${analysis.duration.toFixed(6)} seconds is longer than ${params.spec.maxSeconds} seconds which is the maximum for this model`,
          null,
          'invalid_value',
        );
      }
      if (params.spec.diarize && analysis.duration > 30 && params.chunkingStrategy === undefined) {
        throw badRequest('chunking_strategy is required for diarization models when the input audio is longer than 30 seconds.', 'chunking_strategy');
      }

      if (params.chunkingStrategy !== undefined) entry.chunkingStrategy = typeof params.chunkingStrategy === 'string' ? params.chunkingStrategy : JSON.stringify(params.chunkingStrategy);
      let known: KnownVoice[] = [];
      if (params.knownSpeakerNames.length > 0) {
        entry.knownSpeakerNames = params.knownSpeakerNames;
        const measured = await knownVoices(params, (data) => pool.analyze(data, { pitchHopSeconds: 0.05 }));
        entry.knownSpeakerReferenceSeconds = measured.seconds;
        known = measured.voices;
      }

      const reply = buildReply(params, analysis, opts.hallucinateOnSilence ?? false, known);
      // The latency model is the service's whole processing time from the moment the upload is
      // in, as with pyannote jobs: the emulator's own analysis runs inside it, not on top of it.
      const remaining = latencyMs(opts.latency, analysis.duration) - (Date.now() - received);
      if (!(await waitUnlessClosed(res, Math.max(0, remaining)))) return;
      const processing = { 'openai-processing-ms': String(Date.now() - started) };
      if (reply.kind === 'json') sendJson(res, 200, reply.body, { ...headers, ...processing });
      else sendText(res, 200, reply.body, { ...headers, ...processing });
    } catch (err) {
      if (err instanceof ApiFailure) return fail(err);
      console.error('openai emulator: unexpected error', err);
      fail(new ApiFailure(500, 'The server had an error while processing your request. Sorry about that!', 'server_error'));
    }
  }

  let inFlight = 0;
  const server: Server = createServer((req, res) => {
    inFlight += 1;
    // 'close' fires when the answer is sent or the client went away, whichever comes first.
    res.once('close', () => (inFlight -= 1));
    handle(req, res).catch((err) => {
      console.error('openai emulator: handler crashed', err);
      if (!res.headersSent) sendJson(res, 500, { error: { message: 'emulator crashed', type: 'server_error', param: null, code: null } });
    });
  });
  server.requestTimeout = 0;
  const origin = await listen(server, opts.port ?? 0, opts.host ?? '127.0.0.1');
  const port = Number(new URL(origin).port);

  return {
    url: `${origin}/v1`,
    origin,
    port,
    requests: log.entries,
    get inFlight() {
      return inFlight;
    },
    faults,
    reset,
    async close() {
      await closeServer(server);
      await pool.close();
      await log.close();
    },
  };
}

const STATUS_ERRORS: Record<number, { message: string; type: string; code: string | null }> = {
  401: { message: 'Incorrect API key provided: ****. You can find your API key at https://platform.openai.com/account/api-keys.', type: 'invalid_request_error', code: 'invalid_api_key' },
  403: { message: 'Country, region, or territory not supported', type: 'request_forbidden', code: 'unsupported_country_region_territory' },
  429: { message: 'Rate limit reached for requests per min (RPM). Please try again later.', type: 'requests', code: 'rate_limit_exceeded' },
  500: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', code: null },
  502: { message: 'Bad gateway.', type: 'server_error', code: null },
  503: { message: 'The engine is currently overloaded, please try again later.', type: 'server_error', code: null },
};

/**
 * Applies an injected fault. Returns true when the request is finished (answered, hung
 * or reset), false when it should continue normally (after a delay).
 */
async function applyFault(
  fault: FaultAction,
  req: IncomingMessage,
  res: ServerResponse,
  headers: Record<string, string>,
  drainAndFail: (f: ApiFailure) => Promise<void>,
  setBytes: (n: number) => void,
  bandwidth: Bandwidth | undefined,
): Promise<boolean> {
  if (isConnectionFault(fault)) return applyConnectionFault(fault, req, res, setBytes, bandwidth);
  switch (fault.kind) {
    case 'fail-job':
      return false;
    case 'status': {
      const known = STATUS_ERRORS[fault.status];
      let code = fault.code ?? known?.code ?? null;
      let type = known?.type ?? (fault.status >= 500 ? 'server_error' : 'invalid_request_error');
      let message = fault.message ?? known?.message ?? `Emulated error ${fault.status}`;
      if (fault.status === 429 && fault.code === 'insufficient_quota') {
        type = 'insufficient_quota';
        code = 'insufficient_quota';
        message = fault.message ?? 'You exceeded your current quota, please check your plan and billing details.';
      }
      const extra: Record<string, string> = {};
      if (fault.retryAfterSeconds !== undefined) extra['retry-after'] = String(Math.ceil(fault.retryAfterSeconds));
      if (fault.retryAfterMs !== undefined) extra['retry-after-ms'] = String(fault.retryAfterMs);
      if (fault.shouldRetry !== undefined) extra['x-should-retry'] = String(fault.shouldRetry);
      if (fault.status === 429) extra['x-ratelimit-remaining-requests'] = '0';
      await drainAndFail(new ApiFailure(fault.status, message, type, null, code, { ...headers, ...extra }));
      return true;
    }
  }
}
