/**
 * A shared upload link for the emulators: request bodies are read no faster than the link
 * carries them, so a test or the bench can model e.g. a 20 Mbit/s office uplink that the
 * transcription uploads and the pyannote media PUTs have to share. One Bandwidth object given
 * to both emulators is one link; each emulator given its own number has a link of its own.
 *
 * The model is a queue of bytes on one wire: each chunk read reserves the link for
 * chunk/bytesPerSecond after whatever is already reserved, and is handed on only when that
 * time has come. The reader is paused meanwhile, so TCP backpressure slows the client down
 * as a real slow link would, and concurrent uploads interleave chunk by chunk (a fair share).
 * What the client's and this machine's socket buffers already hold (up to a few MB on
 * loopback) still crosses the link at its rate, so a client that gives up mid-upload is
 * noticed, and its request logged, once those bytes are through: they were in flight.
 */
import { Transform, type Readable, pipeline } from 'node:stream';

/** Pieces a chunk is cut into before reserving, so concurrent uploads interleave finely. */
const SLICE_BYTES = 16 * 1024;

export class Bandwidth {
  /** performance.now() at which the link has carried everything reserved so far. */
  private freeAt = 0;

  constructor(readonly bytesPerSecond: number) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) throw new Error(`bandwidth: expected a positive number of bytes per second, got ${bytesPerSecond}`);
  }

  /** Reserves the link for `bytes` after what is queued; returns the ms until they have arrived. */
  reserve(bytes: number, now = performance.now()): number {
    const start = Math.max(now, this.freeAt);
    this.freeAt = start + (bytes * 1000) / this.bytesPerSecond;
    return this.freeAt - now;
  }

  /**
   * The body of `source` as it arrives over this link. Errors and early ends of `source`
   * (a client that goes away) reach the returned stream.
   */
  pace(source: Readable): Readable {
    const paced = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        void (async () => {
          for (let at = 0; at < chunk.length && !paced.destroyed; at += SLICE_BYTES) {
            const slice = chunk.subarray(at, at + SLICE_BYTES);
            await new Promise((r) => setTimeout(r, this.reserve(slice.length)));
            paced.push(slice);
          }
          done();
        })();
      },
    });
    pipeline(source, paced, () => undefined);
    return paced;
  }
}

/** One link of `bytesPerSecond` (20 Mbit/s is 2_500_000), to pass to one or both emulators. */
export function createBandwidth(bytesPerSecond: number): Bandwidth {
  return new Bandwidth(bytesPerSecond);
}

/** The link an emulator option names: a shared Bandwidth, a rate for a link of its own, or none (unlimited). */
export function bandwidthOption(option: Bandwidth | number | undefined): Bandwidth | undefined {
  if (option === undefined) return undefined;
  return option instanceof Bandwidth ? option : new Bandwidth(option);
}
