// The provider latency model shared by the benchmarks that run against the emulators
// (`npm run bench`, `npm run bench:throughput`), so their figures stay comparable.
import type { EmulatorsOptions, LatencyModel } from '../test/emulators';

/** OpenAI: fixed + 5 ms per audio second (200× real time). */
export const OPENAI_LATENCY: LatencyModel = { fixedMs: 300, perAudioSecondMs: 5 };
/**
 * pyannote job: fixed + 0.25 ms per audio second (4000× real time): 2 h ≈ 2.8 s, plus the upload and the
 * emulator's analysis. Kept below the parallel transcription so that section 2 measures transcription.
 */
export const PYANNOTE_LATENCY: LatencyModel = { fixedMs: 1000, perAudioSecondMs: 0.25 };
export const LATENCY_EMULATORS: EmulatorsOptions = {
  // The body cap of the one-request baseline (a 2-hour 16 kHz WAV is ~230 MB).
  openai: { latency: OPENAI_LATENCY, maxBodyBytes: 300 * 1024 * 1024 },
  pyannote: { latency: PYANNOTE_LATENCY },
};
