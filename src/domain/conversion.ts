// What conversion makes of any input: 16 kHz mono 16-bit WAV, and the silences found in it.

/** Silence below this level, for at least this long, is a place to cut chunks. */
export const SILENCE_DETECTION = { noiseDb: -35, minSeconds: 0.3 } as const;

/** What the converted audio depends on besides the input bytes: part of its cache key. */
export const CONVERSION_SETTINGS = { format: 'wav', sample_rate: 16000, channels: 1, sample_format: 's16', silence_detection: SILENCE_DETECTION } as const;
