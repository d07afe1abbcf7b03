// What audio is sent to a provider: the converted WAV itself, or a compact encoding of it.
// The interim WAV stays the source of truth for slicing and hashing; only the bytes on the
// wire change. Pure: the encoding itself is ffmpeg's (providers/ffmpeg.ts).

export const UPLOAD_CODECS = ['wav', 'flac', 'opus', 'mp3'] as const;
export type UploadCodec = (typeof UPLOAD_CODECS)[number];

export interface UploadFormat {
  codec: UploadCodec;
  /** Target bitrate of a lossy codec; null for wav and flac. */
  bitrateKbps: number | null;
  /** Encoder effort (libopus complexity 0–10, LAME quality 0–9 where lower is slower); absent: ENCODER_EFFORT. */
  effort?: number;
}

/**
 * How hard the encoders work, measured (`npm run bench:codecs`, real speech through the local
 * engine): compact uploads cost the worker's CPU, and at libopus' default complexity 10 that
 * was ~53 s of encoding per audio hour on the 2-core build machine, which is what a long file
 * waits for there. Complexity 0 took ~16 s and LAME quality 7 ~7.5 s (quality 3: ~11 s), with
 * the same word error rate and speaker attribution as the default efforts at these bitrates.
 */
export const ENCODER_EFFORT: Record<'opus' | 'mp3', number> = { opus: 0, mp3: 7 };

/** File extension the providers recognise the format by (OpenAI reads it from the file name). */
export function uploadExtension(f: UploadFormat): 'wav' | 'flac' | 'ogg' | 'mp3' {
  return f.codec === 'opus' ? 'ogg' : f.codec;
}

export function uploadContentType(f: UploadFormat): string {
  return { wav: 'audio/wav', flac: 'audio/flac', opus: 'audio/ogg', mp3: 'audio/mpeg' }[f.codec];
}

/** `opus-32k`, `wav`: how a format is named in cache keys, metadata and messages. */
export function uploadLabel(f: UploadFormat): string {
  const base = f.bitrateKbps !== null ? `${f.codec}-${f.bitrateKbps}k` : f.codec;
  return f.effort !== undefined ? `${base}-e${f.effort}` : base;
}

/**
 * Bytes per second of audio the upload will take at most, for planning what fits in one
 * request. Lossy codecs run at their target bitrate plus container overhead; FLAC is planned as
 * the PCM it encodes (lossless compression promises nothing for noisy audio).
 */
export function plannedUploadBytesPerSecond(f: UploadFormat, wavBytesPerSecond: number): number {
  if (f.bitrateKbps === null) return wavBytesPerSecond;
  return ((f.bitrateKbps * 1000) / 8) * 1.1;
}

/**
 * The defaults, measured (bench/upload-codec.ts): Opus at 32 kbit/s for OpenAI (ogg is one of
 * its formats) and MP3 at 48 kbit/s for pyannote.ai, both far under 30 MB per audio hour and
 * within the word error rate of the WAV; the local engine gets the WAV (it is on this machine).
 */
export const DEFAULT_UPLOAD: Record<'openai' | 'pyannote' | 'local', UploadFormat> = {
  openai: { codec: 'opus', bitrateKbps: 32 },
  pyannote: { codec: 'mp3', bitrateKbps: 48 },
  local: { codec: 'wav', bitrateKbps: null },
};

/** The format for a provider under UPLOAD_CODEC / UPLOAD_BITRATE_KBPS (`auto`: the provider's default). */
export function resolveUpload(provider: 'openai' | 'pyannote' | 'local', codec: UploadCodec | 'auto', kbps: number | undefined): UploadFormat {
  const base = codec === 'auto' ? DEFAULT_UPLOAD[provider] : { codec, bitrateKbps: codec === 'opus' ? 32 : codec === 'mp3' ? 48 : null };
  return base.bitrateKbps !== null && kbps !== undefined ? { ...base, bitrateKbps: kbps } : base;
}
