/**
 * Audio analysis behind the provider emulators: decodes audio to mono samples and
 * reduces it, in one streaming pass, to per-frame energy and sparse pitch estimates.
 * Speech regions, word-like units and pitch-based speaker clusters are derived from
 * those, so emulator answers depend on the audio actually sent.
 *
 * Memory is proportional to the number of 10 ms frames, never to the samples, so a
 * multi-hour file on disk can be analysed without loading it.
 */
import { spawn } from 'node:child_process';
import { createReadStream, promises as fsp } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Thrown when the input is not audio ffmpeg (or the WAV parser) can decode, or holds no audio stream. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

export interface AudioAnalysis {
  /** Rate of the analysed samples: the file's own rate for PCM WAV, 16 kHz after ffmpeg. */
  readonly sampleRate: number;
  readonly decoder: 'wav' | 'ffmpeg';
  readonly sampleCount: number;
  /** Seconds. */
  readonly duration: number;
  /** Exact frame length in seconds (frameSize / sampleRate). */
  readonly frameSeconds: number;
  /** Mean power per frame in dBFS; the last partial frame is included. */
  readonly energyDb: Float32Array;
  /** Sparse pitch estimates, ordered by time: time in seconds, f0 in Hz, NCCF peak (0..1). */
  readonly pitchTime: Float32Array;
  readonly pitchHz: Float32Array;
  readonly pitchStrength: Float32Array;
}

export interface Region {
  start: number;
  end: number;
  /** Median pitch of the voiced estimates inside, in Hz; null when none were voiced. */
  pitch: number | null;
}

export interface WordUnit {
  start: number;
  end: number;
  /** Index of the region this unit came from. */
  region: number;
  meanDb: number;
  pitch: number | null;
  /** Deterministic fingerprint of the unit's energy contour, for choosing pseudo-words. */
  fingerprint: number;
}

export interface SpeakerHints {
  numSpeakers?: number | null;
  minSpeakers?: number | null;
  maxSpeakers?: number | null;
}

export interface SpeakerRegion extends Region {
  speaker: string;
}

export interface AnalyzeOptions {
  signal?: AbortSignal;
  /** Seconds between pitch estimates; denser costs time linearly. */
  pitchHopSeconds?: number;
}

const FRAME_SECONDS = 0.01;
const PITCH_MIN_HZ = 60;
const PITCH_MAX_HZ = 400;
const PITCH_WINDOW_SECONDS = 0.025;
const VOICED_STRENGTH = 0.6;
const SILENCE_DB = -100;

/** Growable typed array, so frame counts need not be known up front. */
class FloatList {
  private data: Float32Array;
  length = 0;
  constructor(initial = 1024) {
    this.data = new Float32Array(initial);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  toArray(): Float32Array {
    return this.data.slice(0, this.length);
  }
}

/**
 * Consumes 16-bit PCM and keeps per-frame energy plus a pitch estimate every hop.
 * Pitch runs on a decimated copy (~8–11 kHz) because 60–400 Hz needs no more, and
 * decimation divides the autocorrelation cost by the factor squared.
 */
class FrameAnalyzer {
  readonly frameSize: number;
  private readonly energy = new FloatList(4096);
  private readonly pTime = new FloatList();
  private readonly pHz = new FloatList();
  private readonly pStrength = new FloatList();
  private acc = 0;
  private accN = 0;
  sampleCount = 0;

  private readonly decimation: number;
  private readonly decRate: number;
  private readonly minLag: number;
  private readonly maxLag: number;
  private readonly window: number;
  private readonly ring: Float32Array;
  private readonly linear: Float32Array;
  private ringPos = 0;
  private decAcc = 0;
  private decN = 0;
  private decCount = 0;
  private readonly hop: number;
  private runningPeakDb = -60;

  constructor(
    readonly sampleRate: number,
    pitchHopSeconds: number,
  ) {
    this.frameSize = Math.max(1, Math.round(sampleRate * FRAME_SECONDS));
    this.decimation = Math.max(1, Math.floor(sampleRate / 8000));
    this.decRate = sampleRate / this.decimation;
    this.minLag = Math.floor(this.decRate / PITCH_MAX_HZ);
    this.maxLag = Math.ceil(this.decRate / PITCH_MIN_HZ);
    this.window = Math.round(this.decRate * PITCH_WINDOW_SECONDS);
    this.ring = new Float32Array(this.window + this.maxLag + 2);
    this.linear = new Float32Array(this.ring.length);
    this.hop = Math.max(1, Math.round(this.decRate * pitchHopSeconds));
  }

  /** Interleaved little-endian 16-bit samples; `buf.length` must be a whole number of sample frames. */
  pushPcm16(buf: Buffer, channels: number): void {
    const count = Math.floor(buf.length / 2);
    // Typed view when aligned (the common case); a copy otherwise. Hosts are little-endian.
    const pcm =
      buf.byteOffset % 2 === 0
        ? new Int16Array(buf.buffer, buf.byteOffset, count)
        : new Int16Array(Uint8Array.prototype.slice.call(buf, 0, count * 2).buffer);
    const frames = Math.floor(count / channels);
    const scale = 1 / (32768 * channels);
    if (channels === 1) {
      for (let f = 0; f < frames; f++) this.pushSample(pcm[f]! * scale);
      return;
    }
    for (let f = 0; f < frames; f++) {
      let sum = 0;
      const base = f * channels;
      for (let c = 0; c < channels; c++) sum += pcm[base + c]!;
      this.pushSample(sum * scale);
    }
  }

  private pushSample(s: number): void {
    this.sampleCount++;
    this.acc += s * s;
    if (++this.accN === this.frameSize) this.closeFrame();

    this.decAcc += s;
    if (++this.decN === this.decimation) {
      this.ring[this.ringPos] = this.decAcc / this.decimation;
      this.ringPos = (this.ringPos + 1) % this.ring.length;
      this.decAcc = 0;
      this.decN = 0;
      this.decCount++;
      if (this.decCount >= this.ring.length && this.decCount % this.hop === 0) this.estimatePitch();
    }
  }

  private closeFrame(): void {
    const db = this.accN > 0 ? 10 * Math.log10(this.acc / this.accN + 1e-10) : SILENCE_DB;
    this.energy.push(db);
    // Slowly decaying peak: gates pitch work to frames loud enough to be speech.
    this.runningPeakDb = Math.max(db, this.runningPeakDb - 0.005);
    this.acc = 0;
    this.accN = 0;
  }

  private estimatePitch(): void {
    const n = this.ring.length;
    const x = this.linear;
    for (let i = 0; i < n; i++) x[i] = this.ring[(this.ringPos + i) % n]!;
    const w = this.window;
    let e0 = 0;
    for (let i = 0; i < w; i++) e0 += x[i]! * x[i]!;
    const db = 10 * Math.log10(e0 / w + 1e-10);
    if (db < Math.max(-65, this.runningPeakDb - 30)) return;

    let el = 0;
    for (let i = this.minLag; i < this.minLag + w; i++) el += x[i]! * x[i]!;
    const lags = this.maxLag - this.minLag + 1;
    const r = new Float32Array(lags);
    let best = 0;
    for (let lag = this.minLag; lag <= this.maxLag; lag++) {
      let c = 0;
      for (let i = 0; i < w; i++) c += x[i]! * x[i + lag]!;
      const v = el > 0 ? c / Math.sqrt(e0 * el) : 0;
      r[lag - this.minLag] = v;
      if (v > best) best = v;
      if (lag + w < n) el += x[lag + w]! * x[lag + w]! - x[lag]! * x[lag]!;
    }
    if (best < VOICED_STRENGTH) return;
    // Shortest lag whose peak is close to the best: avoids picking multiples of the period.
    let pick = -1;
    for (let k = 1; k < lags - 1; k++) {
      const v = r[k]!;
      if (v >= 0.88 * best && v >= r[k - 1]! && v >= r[k + 1]!) {
        pick = k;
        break;
      }
    }
    if (pick < 0) return;
    const a = r[pick - 1]!;
    const b = r[pick]!;
    const c = r[pick + 1]!;
    const denom = a - 2 * b + c;
    const shift = denom !== 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / denom)) : 0;
    const lag = pick + this.minLag + shift;
    // Time of the window centre.
    const t = (this.decCount - n + w / 2) / this.decRate;
    this.pTime.push(t);
    this.pHz.push(this.decRate / lag);
    this.pStrength.push(b);
  }

  finish(decoder: 'wav' | 'ffmpeg'): AudioAnalysis {
    if (this.accN > 0) this.closeFrame();
    return {
      sampleRate: this.sampleRate,
      decoder,
      sampleCount: this.sampleCount,
      duration: this.sampleCount / this.sampleRate,
      frameSeconds: this.frameSize / this.sampleRate,
      energyDb: this.energy.toArray(),
      pitchTime: this.pTime.toArray(),
      pitchHz: this.pHz.toArray(),
      pitchStrength: this.pStrength.toArray(),
    };
  }
}

interface WavLayout {
  sampleRate: number;
  channels: number;
  dataOffset: number;
  dataBytes: number;
}

type ReadAt = (position: number, length: number) => Promise<Buffer>;

/**
 * Walks RIFF chunks without reading their bodies. Returns null for anything that is
 * not 16-bit PCM WAV, which then goes to ffmpeg instead.
 */
async function parseWavLayout(readAt: ReadAt, totalBytes: number): Promise<WavLayout | null> {
  const head = await readAt(0, 12);
  if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') return null;
  let pos = 12;
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | null = null;
  while (pos + 8 <= totalBytes) {
    const hdr = await readAt(pos, 8);
    if (hdr.length < 8) return null;
    const id = hdr.toString('latin1', 0, 4);
    const size = hdr.readUInt32LE(4);
    const body = pos + 8;
    if (id === 'fmt ') {
      const f = await readAt(body, Math.min(size, 40));
      if (f.length < 16) return null;
      let format = f.readUInt16LE(0);
      // WAVE_FORMAT_EXTENSIBLE keeps the real format in the first two bytes of the sub-format GUID.
      if (format === 0xfffe && f.length >= 26) format = f.readUInt16LE(24);
      fmt = { format, channels: f.readUInt16LE(2), sampleRate: f.readUInt32LE(4), bits: f.readUInt16LE(14) };
    } else if (id === 'data') {
      if (!fmt || fmt.format !== 1 || fmt.bits !== 16 || fmt.channels < 1 || fmt.sampleRate < 1000) return null;
      const available = totalBytes - body;
      // Streaming writers (ffmpeg to a pipe, espeak-ng --stdout) leave 0xFFFFFFFF, 0 or a
      // huge placeholder: the data then runs to the end of the file.
      const declared = size === 0xffffffff || size === 0 || size > available ? available : size;
      const blockAlign = 2 * fmt.channels;
      return {
        sampleRate: fmt.sampleRate,
        channels: fmt.channels,
        dataOffset: body,
        dataBytes: declared - (declared % blockAlign),
      };
    }
    pos = body + size + (size % 2);
  }
  return null;
}

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('analysis aborted');
}

async function analyzeWavFile(path: string, layout: WavLayout, opts: AnalyzeOptions): Promise<AudioAnalysis> {
  const analyzer = new FrameAnalyzer(layout.sampleRate, opts.pitchHopSeconds ?? 0.05);
  const blockAlign = 2 * layout.channels;
  if (layout.dataBytes > 0) {
    const stream = createReadStream(path, {
      start: layout.dataOffset,
      end: layout.dataOffset + layout.dataBytes - 1,
      highWaterMark: 1 << 20,
    });
    let carry: Buffer = Buffer.alloc(0);
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      checkAbort(opts.signal);
      const buf: Buffer = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      const whole = buf.length - (buf.length % blockAlign);
      analyzer.pushPcm16(buf.subarray(0, whole), layout.channels);
      carry = Buffer.from(buf.subarray(whole));
    }
  }
  return analyzer.finish('wav');
}

function analyzeWavBuffer(buf: Buffer, layout: WavLayout, opts: AnalyzeOptions): AudioAnalysis {
  const analyzer = new FrameAnalyzer(layout.sampleRate, opts.pitchHopSeconds ?? 0.05);
  analyzer.pushPcm16(buf.subarray(layout.dataOffset, layout.dataOffset + layout.dataBytes), layout.channels);
  return analyzer.finish('wav');
}

async function analyzeWithFfmpeg(path: string, opts: AnalyzeOptions): Promise<AudioAnalysis> {
  checkAbort(opts.signal);
  const analyzer = new FrameAnalyzer(16000, opts.pitchHopSeconds ?? 0.05);
  const args = ['-hide_banner', '-nostdin', '-v', 'error', '-i', path, '-vn', '-f', 's16le', '-ac', '1', '-ar', '16000', '-'];
  const child = spawn(process.env.FFMPEG_PATH || 'ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  let carry: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      const buf: Buffer = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      const whole = buf.length - (buf.length % 2);
      analyzer.pushPcm16(buf.subarray(0, whole), 1);
      carry = Buffer.from(buf.subarray(whole));
    }
  } catch (err) {
    checkAbort(opts.signal);
    throw err;
  }
  let code: number | null;
  try {
    code = await exited;
  } catch (err) {
    checkAbort(opts.signal);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new Error('ffmpeg not found on PATH (set FFMPEG_PATH)');
    throw err;
  }
  checkAbort(opts.signal);
  if (code !== 0) throw new DecodeError('audio could not be decoded', stderr.trim());
  if (analyzer.sampleCount === 0) throw new DecodeError('no audio samples decoded', stderr.trim());
  return analyzer.finish('ffmpeg');
}

/**
 * Decodes and analyses audio from a file path or an in-memory buffer.
 * PCM 16-bit WAV is parsed directly (any rate and channel count, extra chunks,
 * streaming headers); everything else is decoded by ffmpeg to 16 kHz mono.
 * @throws DecodeError when the data is not decodable audio.
 */
export async function analyzeAudio(input: string | Buffer, opts: AnalyzeOptions = {}): Promise<AudioAnalysis> {
  if (typeof input === 'string') {
    const fh = await fsp.open(input, 'r');
    let layout: WavLayout | null;
    try {
      const { size } = await fh.stat();
      layout = await parseWavLayout(async (position, length) => {
        const buf = Buffer.alloc(Math.max(0, Math.min(length, size - position)));
        if (buf.length === 0) return buf;
        const { bytesRead } = await fh.read(buf, 0, buf.length, position);
        return buf.subarray(0, bytesRead);
      }, size);
    } finally {
      await fh.close();
    }
    return layout ? analyzeWavFile(input, layout, opts) : analyzeWithFfmpeg(input, opts);
  }
  const layout = await parseWavLayout(async (position, length) => input.subarray(position, position + length), input.length);
  if (layout) return analyzeWavBuffer(input, layout, opts);
  // ffmpeg gets a real file: MP4/M4A with the index at the end cannot be decoded from a pipe.
  const tmp = join(tmpdir(), `emulator-audio-${randomUUID()}`);
  await fsp.writeFile(tmp, input);
  try {
    return await analyzeWithFfmpeg(tmp, opts);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

/** Percentile of frame energies via a 0.5 dB histogram: O(n), no sort of a million frames. */
function energyPercentile(energy: Float32Array, q: number, from = 0, to = energy.length): number {
  const bins = new Uint32Array(241);
  for (let i = from; i < to; i++) {
    const b = Math.round((Math.max(SILENCE_DB, Math.min(20, energy[i]!)) - SILENCE_DB) * 2);
    bins[b] = bins[b]! + 1;
  }
  const target = q * (to - from);
  let seen = 0;
  for (let b = 0; b < bins.length; b++) {
    seen += bins[b]!;
    if (seen >= target) return SILENCE_DB + b / 2;
  }
  return 20;
}

export interface SpeechThreshold {
  floorDb: number;
  peakDb: number;
  thresholdDb: number;
}

/** Adaptive speech threshold: a fraction of the way from the noise floor to the loud end. */
export function speechThreshold(a: AudioAnalysis): SpeechThreshold {
  // Digital silence sits at -100 dB; clamping keeps the threshold near real quiet speech.
  const floorDb = Math.max(-80, energyPercentile(a.energyDb, 0.1));
  const peakDb = energyPercentile(a.energyDb, 0.99);
  const thresholdDb = floorDb + Math.max(6, 0.25 * (peakDb - floorDb));
  return { floorDb, peakDb, thresholdDb };
}

export interface RegionOptions {
  /** Gaps shorter than this are bridged (the detector's hangover). */
  mergeGapSeconds?: number;
  /** Regions shorter than this after bridging are dropped as blips. */
  minRegionSeconds?: number;
}

/** Speech regions by energy, with gap bridging and blip removal; each carries its median pitch. */
export function speechRegions(a: AudioAnalysis, opts: RegionOptions = {}): Region[] {
  const mergeGap = opts.mergeGapSeconds ?? 0.25;
  const minRegion = opts.minRegionSeconds ?? 0.1;
  const { floorDb, peakDb, thresholdDb } = speechThreshold(a);
  if (peakDb - floorDb < 6) return [];
  const fs = a.frameSeconds;
  const e = a.energyDb;
  const raw: [number, number][] = [];
  let start = -1;
  for (let i = 0; i <= e.length; i++) {
    const on = i < e.length && e[i]! > thresholdDb;
    if (on && start < 0) start = i;
    if (!on && start >= 0) {
      raw.push([start, i]);
      start = -1;
    }
  }
  const merged: [number, number][] = [];
  for (const r of raw) {
    const last = merged[merged.length - 1];
    if (last && (r[0] - last[1]) * fs < mergeGap) last[1] = r[1];
    else merged.push([r[0], r[1]]);
  }
  return merged
    .filter(([s, t]) => (t - s) * fs >= minRegion)
    .map(([s, t]) => {
      const region = { start: s * fs, end: Math.min(t * fs, a.duration), pitch: null as number | null };
      region.pitch = pitchOf(a, region);
      return region;
    });
}

/** The voiced pitch estimates (Hz) between start and end, in time order. Binary search keeps it O(log n + k). */
export function pitchesIn(a: AudioAnalysis, span: { start: number; end: number }): number[] {
  const t = a.pitchTime;
  let lo = 0;
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (t[mid]! < span.start) lo = mid + 1;
    else hi = mid;
  }
  const values: number[] = [];
  for (let i = lo; i < t.length && t[i]! <= span.end; i++) values.push(a.pitchHz[i]!);
  return values;
}

/** Median of the voiced pitch estimates between start and end, or null. */
export function pitchOf(a: AudioAnalysis, span: { start: number; end: number }): number | null {
  const values = pitchesIn(a, span);
  if (values.length === 0) return null;
  values.sort((x, y) => x - y);
  return values[values.length >> 1]!;
}

export interface WordOptions {
  /** A dip must stay low this long to separate two words. */
  minDipSeconds?: number;
  /** Units shorter than this are folded into a neighbour. */
  minWordSeconds?: number;
  /** Units longer than this are split at their deepest energy valley. */
  maxWordSeconds?: number;
}

function fingerprint(e: Float32Array, from: number, to: number): number {
  // FNV-1a over the quantised energy contour and length.
  let h = 0x811c9dc5;
  const mix = (v: number) => {
    h ^= v & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  };
  mix(to - from);
  for (let i = from; i < to; i++) mix(Math.round(e[i]! / 3));
  return h >>> 0;
}

/**
 * Word-like units: each speech region is cut where energy stays well below the region's
 * level for a while (espeak-ng word gaps, pauses), then over-long units are cut at their
 * deepest valley so a continuous stretch of speech still yields word-sized pieces.
 */
export function words(a: AudioAnalysis, regions: Region[] = speechRegions(a), opts: WordOptions = {}): WordUnit[] {
  const fs = a.frameSeconds;
  const minDip = Math.max(1, Math.round((opts.minDipSeconds ?? 0.06) / fs));
  const minWord = Math.max(1, Math.round((opts.minWordSeconds ?? 0.06) / fs));
  const maxWord = Math.round((opts.maxWordSeconds ?? 0.9) / fs);
  const { thresholdDb } = speechThreshold(a);
  const e = a.energyDb;
  const out: WordUnit[] = [];

  regions.forEach((region, regionIndex) => {
    const from = Math.max(0, Math.floor(region.start / fs + 1e-6));
    const to = Math.min(e.length, Math.round(region.end / fs));
    if (to <= from) return;
    const loudDb = energyPercentile(e, 0.9, from, to);
    const dipDb = Math.max(thresholdDb, loudDb - 35);

    let units: [number, number][] = [];
    let s = -1;
    let low = 0;
    for (let i = from; i < to; i++) {
      if (e[i]! > dipDb) {
        if (s < 0) s = i;
        else if (low >= minDip) {
          units.push([s, i - low]);
          s = i;
        }
        low = 0;
      } else if (s >= 0) low++;
    }
    if (s >= 0) units.push([s, to - low]);

    units = splitLong(e, units, maxWord, minWord);
    units = foldShort(units, minWord);
    for (const [us, ue] of units) {
      let sum = 0;
      for (let i = us; i < ue; i++) sum += e[i]!;
      const span = { start: us * fs, end: Math.min(ue * fs, a.duration) };
      out.push({ ...span, region: regionIndex, meanDb: sum / (ue - us), pitch: pitchOf(a, span), fingerprint: fingerprint(e, us, ue) });
    }
  });
  return out;
}

function splitLong(e: Float32Array, units: [number, number][], maxLen: number, minLen: number): [number, number][] {
  const out: [number, number][] = [];
  const stack = [...units].reverse();
  while (stack.length) {
    const u = stack.pop()!;
    const [s, t] = u;
    if (t - s <= maxLen) {
      out.push(u);
      continue;
    }
    // Deepest smoothed valley away from the edges.
    let best = -1;
    let bestDb = Infinity;
    for (let i = s + minLen; i < t - minLen; i++) {
      const v = (e[i - 1]! + e[i]! + e[i + 1]!) / 3;
      if (v < bestDb) {
        bestDb = v;
        best = i;
      }
    }
    if (best < 0) {
      out.push(u);
      continue;
    }
    stack.push([best, t], [s, best]);
  }
  return out;
}

function foldShort(units: [number, number][], minLen: number): [number, number][] {
  const out = units.map((u) => [u[0], u[1]] as [number, number]);
  for (let i = 0; i < out.length && out.length > 1; ) {
    const u = out[i]!;
    if (u[1] - u[0] >= minLen) {
      i++;
      continue;
    }
    const prev = out[i - 1];
    const next = out[i + 1];
    const gapPrev = prev ? u[0] - prev[1] : Infinity;
    const gapNext = next ? next[0] - u[1] : Infinity;
    if (prev && gapPrev <= gapNext) prev[1] = u[1];
    else if (next) next[0] = u[0];
    out.splice(i, 1);
  }
  return out;
}

/** Pitch ratio (in octaves) above which two regions are taken as different voices when no count is given. */
const SPEAKER_SPLIT_OCTAVES = 0.2;

/**
 * Groups regions into speakers by pitch (1-D clustering on log pitch): natural clusters
 * are separated by gaps wider than ~15 %, then the count is forced into the hints by
 * splitting at the largest gaps. Unpitched regions join the speaker nearest in time.
 * Labels are SPEAKER_00, SPEAKER_01, … in order of first appearance.
 */
export function clusterSpeakers(regions: readonly Region[], hints: SpeakerHints = {}): SpeakerRegion[] {
  if (regions.length === 0) return [];
  const pitched = regions
    .map((r, i) => ({ i, v: r.pitch !== null && r.pitch > 0 ? Math.log2(r.pitch) : null }))
    .filter((p): p is { i: number; v: number } => p.v !== null)
    .sort((x, y) => x.v - y.v);

  const cluster = new Array<number>(regions.length).fill(-1);
  if (pitched.length === 0) cluster.fill(0);
  else {
    const gaps = pitched.slice(1).map((p, k) => ({ k, g: p.v - pitched[k]!.v }));
    let k = 1 + gaps.filter((g) => g.g >= SPEAKER_SPLIT_OCTAVES).length;
    if (hints.numSpeakers) k = hints.numSpeakers;
    else {
      if (hints.minSpeakers) k = Math.max(k, hints.minSpeakers);
      if (hints.maxSpeakers) k = Math.min(k, hints.maxSpeakers);
    }
    k = Math.max(1, Math.min(k, pitched.length));
    const cuts = new Set(
      [...gaps]
        .sort((x, y) => y.g - x.g)
        .slice(0, k - 1)
        .map((g) => g.k),
    );
    let c = 0;
    pitched.forEach((p, idx) => {
      cluster[p.i] = c;
      if (cuts.has(idx)) c++;
    });
    for (let i = 0; i < regions.length; i++) {
      if (cluster[i] !== -1) continue;
      let best = -1;
      let bestDist = Infinity;
      for (let j = 0; j < regions.length; j++) {
        if (cluster[j] === -1 || regions[j]!.pitch === null) continue;
        const d = Math.abs(regions[j]!.start - regions[i]!.start);
        if (d < bestDist) {
          bestDist = d;
          best = j;
        }
      }
      cluster[i] = best >= 0 ? cluster[best]! : 0;
    }
  }

  const order = regions.map((r, i) => ({ r, i })).sort((x, y) => x.r.start - y.r.start);
  const labelOf = new Map<number, string>();
  const labels = new Array<string>(regions.length);
  for (const { i } of order) {
    const c = cluster[i]!;
    if (!labelOf.has(c)) labelOf.set(c, `SPEAKER_${String(labelOf.size).padStart(2, '0')}`);
    labels[i] = labelOf.get(c)!;
  }
  return regions.map((r, i) => ({ ...r, speaker: labels[i]! }));
}
