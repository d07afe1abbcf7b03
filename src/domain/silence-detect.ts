// Silence detection on 16-bit mono PCM, fed block by block, with the semantics of ffmpeg's
// `silencedetect` filter: a silence is a run of at least `minSeconds` of samples whose
// amplitude stays below `noiseDb` (relative to full scale); it is reported from the first
// quiet sample of the run to the first loud sample after it, or to the end of the audio.
// Done in-process so the file can be hashed and searched for silences in one read,
// instead of a second decoding pass through ffmpeg's per-sample filter.

export interface SilenceSettings {
  /** Level below which a sample counts as quiet, in dB relative to full scale (e.g. -35). */
  noiseDb: number;
  /** Shortest quiet run reported, in seconds. */
  minSeconds: number;
}

export interface DetectedSilence {
  start: number;
  end: number;
}

export class SilenceDetector {
  private readonly threshold: number;
  private readonly minSamples: number;
  /** Quiet samples in the current run, while it is still shorter than `minSamples`. */
  private quietRun = 0;
  /** First sample of the silence being reported, or -1 when not in one. */
  private silenceStart = -1;
  private position = 0;
  private readonly found: DetectedSilence[] = [];

  constructor(
    private readonly sampleRate: number,
    settings: SilenceSettings,
  ) {
    if (!(sampleRate > 0)) throw new RangeError(`sample rate must be positive, got ${sampleRate}`);
    if (!(settings.minSeconds > 0)) throw new RangeError(`minSeconds must be positive, got ${settings.minSeconds}`);
    // ffmpeg compares x / 32768 with the amplitude ratio; the same test on raw samples.
    this.threshold = 10 ** (settings.noiseDb / 20) * 32768;
    this.minSamples = Math.max(1, Math.round(settings.minSeconds * sampleRate));
  }

  /** Samples processed so far. */
  get samples(): number {
    return this.position;
  }

  push(pcm: Int16Array): void {
    // Integer form of |x| < threshold: x in [-limit, limit], tested as one unsigned compare.
    const limit = Math.ceil(this.threshold) - 1;
    const span = 2 * limit;
    const min = this.minSamples;
    const n = pcm.length;
    let run = this.quietRun;
    let start = this.silenceStart;
    let i = 0;
    while (i < n) {
      if (start >= 0) {
        // Inside a reported silence: find the first loud sample.
        while (i < n && (pcm[i]! + limit) >>> 0 <= span) i++;
        if (i === n) break;
        this.found.push({ start: start / this.sampleRate, end: (this.position + i) / this.sampleRate });
        start = -1;
        run = 0;
        i++;
        continue;
      }
      // Outside: look for `min` quiet samples in a row. `run` quiet samples end just before i.
      // Test the last sample the run would need first: speech is rarely quiet there, and a
      // loud one there rules out every run ending before it, so most of speech is skipped.
      const far = i + (min - run) - 1;
      if (far >= n) {
        // The run would end past this block: count sample by sample to the block's end.
        for (; i < n; i++) run = (pcm[i]! + limit) >>> 0 <= span ? run + 1 : 0;
        break;
      }
      if ((pcm[far]! + limit) >>> 0 > span) {
        run = 0;
        i = far + 1;
        continue;
      }
      // Samples i..far-1 are unknown: the nearest loud one to `far` decides.
      let k = far - 1;
      while (k >= i && (pcm[k]! + limit) >>> 0 <= span) k--;
      if (k >= i) {
        run = far - k;
        i = far + 1;
        continue;
      }
      start = this.position + far + 1 - min;
      i = far + 1;
    }
    this.quietRun = run;
    this.silenceStart = start;
    this.position += n;
  }

  /** The silences found; one still open at the end of the audio ends there. */
  finish(): DetectedSilence[] {
    if (this.silenceStart >= 0) {
      this.found.push({ start: this.silenceStart / this.sampleRate, end: this.position / this.sampleRate });
      this.silenceStart = -1;
      this.quietRun = 0;
    }
    return this.found;
  }
}
