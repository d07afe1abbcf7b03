// Reading the header of a PCM WAV file, so chunks can be cut by byte range (a new
// header plus a slice of the data) without decoding or holding the audio in memory.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { type DetectedSilence, type SilenceSettings, SilenceDetector } from '../domain/silence-detect';

export interface WavInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  dataOffset: number;
  dataBytes: number;
  /** What the header claims (null when the writer left it open); more than dataBytes means truncated. */
  declaredDataBytes: number | null;
  bytesPerSecond: number;
  durationSeconds: number;
}

export async function readWavInfo(file: string): Promise<WavInfo> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, 64 * 1024));
    await fh.read(head, 0, head.length, 0);
    if (head.length < 12 || head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') {
      throw new Error(`${file} is not a RIFF/WAVE file`);
    }
    let pos = 12;
    let fmt: { channels: number; sampleRate: number; bitsPerSample: number } | null = null;
    while (pos + 8 <= head.length) {
      const id = head.toString('ascii', pos, pos + 4);
      const len = head.readUInt32LE(pos + 4);
      if (id === 'fmt ') {
        fmt = { channels: head.readUInt16LE(pos + 10), sampleRate: head.readUInt32LE(pos + 12), bitsPerSample: head.readUInt16LE(pos + 22) };
      } else if (id === 'data') {
        if (!fmt) throw new Error(`${file}: WAV data chunk before fmt chunk`);
        const dataOffset = pos + 8;
        // Streaming writers leave the size at 0 or 0xFFFFFFFF; the file size is the truth then.
        const dataBytes = len === 0 || len === 0xffffffff || dataOffset + len > size ? size - dataOffset : len;
        const bytesPerSecond = fmt.sampleRate * fmt.channels * (fmt.bitsPerSample / 8);
        const declaredDataBytes = len === 0 || len === 0xffffffff ? null : len;
        return { ...fmt, dataOffset, dataBytes, declaredDataBytes, bytesPerSecond, durationSeconds: dataBytes / bytesPerSecond };
      }
      pos += 8 + len + (len % 2);
    }
    throw new Error(`${file}: no WAV data chunk in the first 64 KiB`);
  } finally {
    await fh.close();
  }
}

/** A canonical 44-byte PCM WAV header for `dataBytes` of audio. */
export function wavHeader(info: Pick<WavInfo, 'sampleRate' | 'channels' | 'bitsPerSample'>, dataBytes: number): Buffer {
  if (dataBytes > 0xffffffff - 36) throw new RangeError(`WAV data of ${dataBytes} bytes does not fit a RIFF header (4 GiB)`);
  const h = Buffer.alloc(44);
  const blockAlign = info.channels * (info.bitsPerSample / 8);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(info.channels, 22);
  h.writeUInt32LE(info.sampleRate, 24);
  h.writeUInt32LE(info.sampleRate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(info.bitsPerSample, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Byte range of the PCM data covering [startSec, endSec), aligned to whole sample frames. */
export function byteRangeFor(info: WavInfo, startSec: number, endSec: number): { startByte: number; endByte: number } {
  const blockAlign = info.channels * (info.bitsPerSample / 8);
  const toByte = (sec: number) =>
    info.dataOffset + Math.min(info.dataBytes, Math.max(0, Math.round(sec * info.sampleRate) * blockAlign));
  return { startByte: toByte(startSec), endByte: toByte(endSec) };
}

export interface WavPass {
  sha256: string;
  bytes: number;
  info: WavInfo;
  silences: DetectedSilence[];
}

/**
 * One read of a 16-bit mono PCM WAV file: the sha256 of the whole file and the silences
 * in its audio. Long recordings are read once instead of once to hash and once more
 * through a decoder to find places to cut.
 */
export async function hashWavFindingSilences(file: string, settings: SilenceSettings, signal?: AbortSignal): Promise<WavPass> {
  const info = await readWavInfo(file);
  if (info.channels !== 1 || info.bitsPerSample !== 16) {
    throw new Error(`${file} is ${info.channels}-channel ${info.bitsPerSample}-bit audio; silence detection reads 16-bit mono PCM`);
  }
  const detector = new SilenceDetector(info.sampleRate, settings);
  const hash = createHash('sha256');
  const dataEnd = info.dataOffset + info.dataBytes;
  let offset = 0;
  let carry: Buffer | null = null;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20, signal }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    const chunkStart = offset;
    offset += chunk.length;
    // The part of this read that is audio data (the header and any trailing chunks are not).
    const from = Math.max(info.dataOffset, chunkStart);
    const to = Math.min(dataEnd, offset);
    if (to <= from) continue;
    let pcm = chunk.subarray(from - chunkStart, to - chunkStart);
    if (carry) {
      pcm = Buffer.concat([carry, pcm]);
      carry = null;
    }
    const whole = pcm.length - (pcm.length % 2);
    if (whole < pcm.length) carry = Buffer.from(pcm.subarray(whole));
    // Int16Array needs an even byte offset; file reads almost always give one.
    const aligned = pcm.byteOffset % 2 === 0 ? pcm : Buffer.from(pcm.subarray(0, whole));
    detector.push(new Int16Array(aligned.buffer, aligned.byteOffset, whole / 2));
  }
  return { sha256: hash.digest('hex'), bytes: offset, info, silences: detector.finish() };
}
