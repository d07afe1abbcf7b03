// The small interfaces activities talk to. Adapters for the real services live
// beside this file; nothing here knows about Temporal.
import type { SpeakerTurn, Transcript } from '../domain/types';
import type { UploadFormat } from '../domain/upload-format';

export interface ProbeResult {
  formatName: string;
  durationSeconds: number | null;
  audioStreams: number;
  videoStreams: number;
  codec: string | null;
  sampleRate: number | null;
  channels: number | null;
}

export interface ConvertProgress {
  /** Seconds of the source converted so far. */
  seconds: number;
}

export interface MediaProcessor {
  probe(file: string, signal?: AbortSignal): Promise<ProbeResult>;
  /**
   * Converts any audio or video to 16 kHz mono 16-bit WAV at `output`. Silences are found
   * afterwards by reading the WAV (providers/wav.ts), in the same read that hashes it.
   */
  toWav16kMono(input: string, output: string, opts: { signal?: AbortSignal; onProgress?: (p: ConvertProgress) => void }): Promise<void>;
  /**
   * Encodes a span of the converted WAV (the whole file without `span`) in an upload format
   * (providers' compact uploads) at `output`; returns its size.
   */
  encodeUpload(wav: string, output: string, opts: { format: UploadFormat; span?: { start: number; end: number }; signal?: AbortSignal; onProgress?: (p: ConvertProgress) => void }): Promise<{ bytes: number }>;
}

export interface DiarizationHints {
  numSpeakers: number | null;
  minSpeakers: number | null;
  maxSpeakers: number | null;
}

export type DiarizationJobStatus = 'pending' | 'created' | 'running' | 'succeeded' | 'failed' | 'canceled';

/** An enrolled voice: a label (not starting with SPEAKER_) and the provider's opaque voiceprint. */
export interface Voiceprint {
  label: string;
  voiceprint: string;
}

export interface IdentifyOptions {
  /** 1 to 50 voiceprints, made by the same provider and model. */
  voiceprints: Voiceprint[];
  /** Lowest score (0–100) that names a speaker; null: the provider's default (pyannote: 0, every speaker it can match). */
  threshold: number | null;
}

/** How one diarization speaker compared with the voiceprints of an identification job. */
export interface SpeakerMatch {
  /** The diarization label, SPEAKER_xx. */
  speaker: string;
  /** The voiceprint label it was matched to, or null. */
  match: string | null;
  /** The score (0–100) of the matched label; null when unmatched. */
  score: number | null;
  /** Every voiceprint label's score (0–100), when the provider gives them. */
  scores: Record<string, number>;
}

export interface DiarizationJob {
  jobId: string;
  status: DiarizationJobStatus;
  /** Diarization turns, labelled SPEAKER_xx also for identification jobs (names are in `matches`); overlaps possible. */
  turns?: SpeakerTurn[];
  /** The same with one speaker at a time (pyannote.ai's exclusiveDiarization), when the service gave them. */
  exclusiveTurns?: SpeakerTurn[];
  /** What the service said about the job or its output (e.g. a speaker count it could not honour). */
  warnings?: string[];
  /** A voiceprint job's result. */
  voiceprint?: string;
  /** An identification job's verdict per diarization speaker. */
  matches?: SpeakerMatch[];
  error?: string;
}

/**
 * What a request tells its caller so a slow request can be told from a hung one
 * (activities/boundary.ts, `Live.request`).
 */
export interface RequestWatch {
  /** The request left any local queue and is being sent: its deadline counts from now. */
  sending?(): void;
  /** Bytes of the request moved. */
  progress?(): void;
}

export interface Diarizer {
  /** Makes the audio reachable by the service and returns the URL to diarize (e.g. media://…). */
  upload(file: string, mediaKey: string, signal?: AbortSignal, watch?: RequestWatch): Promise<string>;
  /** Starts a diarization job, or with `identify` an identification job (diarization plus voiceprint matching). */
  submit(mediaUrl: string, hints: DiarizationHints, signal?: AbortSignal, identify?: IdentifyOptions): Promise<{ jobId: string }>;
  /** Starts a voiceprint job on a single-speaker clip of at most 30 s; poll it for `voiceprint`. */
  submitVoiceprint(mediaUrl: string, signal?: AbortSignal): Promise<{ jobId: string }>;
  poll(jobId: string, signal?: AbortSignal): Promise<DiarizationJob>;
}

export interface TranscribeRequest {
  /** A WAV file (or a byte range of one, see `range`). */
  file: string;
  /** Byte range of PCM data to send, with a fresh WAV header; whole file when absent. */
  range?: { startByte: number; endByte: number };
  fileName: string;
  /** Seconds of audio the file holds, when it is not a range of a WAV (a compact upload). */
  seconds?: number;
  model: string;
  language: string | null;
  prompt: string | null;
}

/** What a transcription request bills, as the service reports it (OpenAI's `usage`). */
export type TranscriptionUsage =
  | { type: 'duration'; seconds: number }
  | { type: 'tokens'; inputTokens: number; outputTokens: number; totalTokens: number; audioTokens: number | null };

export interface TranscribeResult extends Transcript {
  /** Absent when the service does not report it (compatible servers, older models). */
  usage?: TranscriptionUsage;
}

export interface Transcriber {
  transcribe(req: TranscribeRequest, signal?: AbortSignal, watch?: RequestWatch): Promise<TranscribeResult>;
}
