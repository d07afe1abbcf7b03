// MediaProcessor on fluent-ffmpeg: probe and conversion to 16 kHz mono WAV.
// Every ffmpeg child is killed when the caller's AbortSignal fires.
import ffmpeg from 'fluent-ffmpeg';
import { stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Failure } from '../domain/failures';
import { ENCODER_EFFORT, plannedUploadBytesPerSecond, type UploadFormat } from '../domain/upload-format';
import { diskFullError, finalNameOf } from './artifact-store';
import { ProviderError } from './errors';
import type { ConvertProgress, MediaProcessor, ProbeResult } from './interfaces';

export interface FfmpegPaths {
  ffmpegPath?: string;
  ffprobePath?: string;
}

/** Turns ffmpeg's stderr into the one line that explains the problem. */
function explainFfmpegError(err: unknown, file: string): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const telling = lines.find((l) =>
    /Invalid data found|moov atom not found|does not contain any stream|could not find codec|End of file|Invalid argument|Permission denied|No such file/i.test(l),
  );
  // ffmpeg names the file at the start of its own line: say it once.
  const reason = (telling ?? lines[lines.length - 1] ?? 'ffmpeg could not read the file').split(`${file}: `).join('');
  return `${file} (ffmpeg: ${reason})`;
}

/**
 * ffmpeg's words for an output it could not write. It may say them and still exit 0 (a full
 * disk met while writing the trailer, ffmpeg 5 and 6), leaving a cut-off file behind.
 */
const WRITE_FAILED = /Error writing trailer|Error closing file|av_interleaved_write_frame\(\)|No space left on device|Disk quota exceeded/i;
const DISK_FULL = /No space left on device|Disk quota exceeded/i;
/** 16 kHz mono 16-bit PCM, what conversion writes. */
const WAV_BYTES_PER_SECOND = 32_000;

/**
 * fluent-ffmpeg asks ffmpeg for its formats and then its encoders (two runs of ffmpeg, one after
 * the other: ~0.2 s measured) before the first command of a process that names a format or a
 * codec, and keeps the answers for the process. A worker asks both at once when it starts,
 * beside its other start-up work, so its first conversion does not wait for them. Errors are
 * left to that first command, which asks again.
 */
export function warmUpFfmpeg(paths: FfmpegPaths = {}): void {
  const c = ffmpegCommand(paths);
  c.availableFormats(() => undefined);
  c.availableEncoders(() => undefined);
}

/** A fluent-ffmpeg command on the configured ffmpeg and ffprobe binaries. */
function ffmpegCommand(paths: FfmpegPaths, input?: string): ffmpeg.FfmpegCommand {
  const c = input === undefined ? ffmpeg() : ffmpeg(input);
  if (paths.ffmpegPath) c.setFfmpegPath(paths.ffmpegPath);
  if (paths.ffprobePath) c.setFfprobePath(paths.ffprobePath);
  return c;
}

export function createFfmpegProcessor(paths: FfmpegPaths = {}): MediaProcessor {
  const command = (input: string) => ffmpegCommand(paths, input);

  /**
   * Runs a prepared command, killing ffmpeg when the signal aborts. An abort settles only once
   * ffmpeg is gone (or killed as soon as it starts, when the abort came first), so the caller
   * may remove its output files without ffmpeg writing them again.
   */
  const run = (c: ffmpeg.FfmpegCommand, signal: AbortSignal | undefined): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const abortReason = () => signal?.reason ?? new Error('aborted');
      if (signal?.aborted) return reject(abortReason());
      let started = false;
      let aborted = false;
      const onAbort = () => {
        aborted = true;
        if (started) c.kill('SIGKILL');
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      c.on('start', () => {
        started = true;
        if (aborted) c.kill('SIGKILL');
      });
      c.on('error', (err: Error, _stdout: string | null, stderr: string | null) => {
        signal?.removeEventListener('abort', onAbort);
        reject(aborted ? abortReason() : new Error(`${err.message}\n${stderr ?? ''}`));
      });
      c.on('end', (_stdout: string | null, stderr: string | null) => {
        signal?.removeEventListener('abort', onAbort);
        if (aborted) reject(abortReason());
        else resolve(stderr ?? '');
      });
      c.run();
    });

  /**
   * Runs a command writing `output`, with progress reported as seconds done. A failure (not an
   * abort) becomes InvalidMedia with `explain`'s words; an output ffmpeg could not write (a
   * full disk) is removed and reported as such, whatever ffmpeg's exit code.
   */
  const runReporting = async (
    c: ffmpeg.FfmpegCommand,
    output: string,
    opts: { signal?: AbortSignal; onProgress?: (p: ConvertProgress) => void; seconds?: number; format: UploadFormat },
    explain: (err: unknown) => string,
  ) => {
    if (opts.onProgress) {
      const onProgress = opts.onProgress;
      c.on('progress', (p: { timemark?: string }) => {
        const seconds = parseTimemark(p.timemark);
        if (seconds !== null) onProgress({ seconds } satisfies ConvertProgress);
      });
    }
    // The input's length, for what a full disk would have needed.
    let inputSeconds: number | null = opts.seconds ?? null;
    c.on('codecData', (d: { duration?: string }) => (inputSeconds ??= parseTimemark(d.duration)));
    let stderr: string;
    try {
      stderr = await run(c, opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const text = err instanceof Error ? err.message : String(err);
      if (DISK_FULL.test(text)) throw await outputFailed(output, text, inputSeconds, opts.format);
      throw new ProviderError(Failure.InvalidMedia, explain(err));
    }
    if (WRITE_FAILED.test(stderr)) throw await outputFailed(output, stderr, inputSeconds, opts.format);
  };

  /** The output is cut off: it goes, and the failure says why (a full disk: where, and how much it needs). */
  const outputFailed = async (output: string, stderr: string, seconds: number | null, format: UploadFormat): Promise<Error> => {
    await unlink(output).catch(() => undefined);
    if (DISK_FULL.test(stderr)) {
      const needBytes = seconds !== null ? Math.ceil(seconds * plannedUploadBytesPerSecond(format, WAV_BYTES_PER_SECOND)) + 44 : null;
      const cause = Object.assign(new Error('ffmpeg'), { code: /Disk quota exceeded/i.test(stderr) ? 'EDQUOT' : 'ENOSPC' });
      return diskFullError({ dir: path.dirname(output), writing: finalNameOf(output), needBytes, about: true }, cause);
    }
    const line = stderr.split('\n').map((l) => l.trim()).find((l) => WRITE_FAILED.test(l)) ?? 'write error';
    // Not the input's fault, and maybe passing (an I/O error of a network mount): retried.
    return new Error(`ffmpeg could not write ${output}: ${line}`);
  };

  return {
    probe(file: string, signal?: AbortSignal): Promise<ProbeResult> {
      return new Promise<ProbeResult>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const c = command(file);
        c.ffprobe((err, data) => {
          if (err) {
            reject(new ProviderError(Failure.InvalidMedia, `Not a readable audio or video file: ${explainFfmpegError(err, file)}`));
            return;
          }
          const audio = data.streams.filter((s) => s.codec_type === 'audio');
          const video = data.streams.filter((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
          const first = audio[0];
          const duration = Number(data.format.duration ?? first?.duration);
          resolve({
            formatName: data.format.format_name ?? 'unknown',
            durationSeconds: Number.isFinite(duration) ? duration : null,
            audioStreams: audio.length,
            videoStreams: video.length,
            codec: first?.codec_name ?? null,
            sampleRate: first?.sample_rate ? Number(first.sample_rate) : null,
            channels: first?.channels ?? null,
          });
        });
      });
    },

    async toWav16kMono(input, output, opts) {
      const c = command(input)
        .outputOptions(['-map', '0:a:0', '-vn', '-sn', '-dn', '-map_metadata', '-1', '-fflags', '+bitexact', '-flags:a', '+bitexact'])
        .audioChannels(1)
        .audioFrequency(16000)
        .audioCodec('pcm_s16le')
        .format('wav')
        .output(output);
      await runReporting(c, output, { ...opts, format: { codec: 'wav', bitrateKbps: null } }, (err) => `The audio could not be decoded: ${explainFfmpegError(err, input)}`);
    },

    async encodeUpload(wav, output, opts) {
      const f = opts.format;
      const c = command(wav);
      // On a WAV input, -ss before -i seeks to the exact sample.
      if (opts.span) c.inputOptions(['-ss', opts.span.start.toFixed(6), '-t', (opts.span.end - opts.span.start).toFixed(6)]);
      c.outputOptions(['-map', '0:a:0', '-map_metadata', '-1', '-fflags', '+bitexact', '-flags:a', '+bitexact']).audioChannels(1).audioFrequency(16000);
      if (f.codec === 'wav') c.audioCodec('pcm_s16le').format('wav');
      else if (f.codec === 'flac') c.audioCodec('flac').format('flac');
      // libopus' voip mode favours intelligibility, which is what a transcriber needs.
      else if (f.codec === 'opus') c.audioCodec('libopus').audioBitrate(`${f.bitrateKbps ?? 32}k`).outputOptions(['-application', 'voip', '-compression_level', String(f.effort ?? ENCODER_EFFORT.opus)]).format('ogg');
      else c.audioCodec('libmp3lame').audioBitrate(`${f.bitrateKbps ?? 48}k`).outputOptions(['-compression_level', String(f.effort ?? ENCODER_EFFORT.mp3)]).format('mp3');
      c.output(output);
      await runReporting(c, output, { ...opts, format: f, ...(opts.span ? { seconds: opts.span.end - opts.span.start } : {}) }, (err) => `The audio could not be encoded for upload (${f.codec}): ${explainFfmpegError(err, wav)}`);
      return { bytes: (await stat(output)).size };
    },
  };
}

function parseTimemark(mark: string | undefined): number | null {
  if (!mark) return null;
  const m = /^(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(mark);
  if (!m) return null;
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

