// The small interfaces activities talk to. Adapters for the real services live
// beside this file; nothing here knows about Temporal.
import type { SpeakerTurn, Transcript } from '../domain/types';

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
}

export interface DiarizationHints {
  numSpeakers: number | null;
  minSpeakers: number | null;
  maxSpeakers: number | null;
}

export type DiarizationJobStatus = 'pending' | 'created' | 'running' | 'succeeded' | 'failed' | 'canceled';

export interface DiarizationJob {
  jobId: string;
  status: DiarizationJobStatus;
  turns?: SpeakerTurn[];
  error?: string;
}

export interface Diarizer {
  /** Makes the audio reachable by the service and returns the URL to diarize (e.g. media://…). */
  upload(file: string, mediaKey: string, signal?: AbortSignal): Promise<string>;
  submit(mediaUrl: string, hints: DiarizationHints, signal?: AbortSignal): Promise<{ jobId: string }>;
  poll(jobId: string, signal?: AbortSignal): Promise<DiarizationJob>;
}

export interface TranscribeRequest {
  /** A WAV file (or a byte range of one, see `range`). */
  file: string;
  /** Byte range of PCM data to send, with a fresh WAV header; whole file when absent. */
  range?: { startByte: number; endByte: number };
  fileName: string;
  model: string;
  language: string | null;
  prompt: string | null;
}

export interface Transcriber {
  transcribe(req: TranscribeRequest, signal?: AbortSignal): Promise<Transcript>;
}
