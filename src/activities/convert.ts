// audio_conversion: probe the source, convert its first audio stream to 16 kHz mono WAV.
import { Context } from '@temporalio/activity';
import type { Stats } from 'node:fs';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { CONVERSION_SETTINGS, SILENCE_DETECTION } from '../domain/conversion';
import { Failure } from '../domain/failures';
import type { ArtifactRef } from '../domain/types';
import { diskFullError, isDiskFullError, sha256File, type ArtifactStore } from '../providers/artifact-store';
import type { MediaProcessor, ProbeResult } from '../providers/interfaces';
import { cacheKey, conversionKeyInputs, type StageCache } from '../providers/stage-cache';
import { hashWavFindingSilences, readWavInfo } from '../providers/wav';
import { atBoundary, failure } from './boundary';

export { SILENCE_DETECTION } from '../domain/conversion';
export const SILENCES_FILE = 'silences.json';

export interface ConvertAudioInput {
  inputFile: string;
  inputSha256: string;
  interimDir: string;
  /** false: convert even when the same bytes were converted before (--force-restart). */
  reuseCached?: boolean;
}

export function makeConvertAudio(deps: { media: MediaProcessor; store: ArtifactStore; cache?: StageCache }) {
  return async function convertAudio(input: ConvertAudioInput): Promise<ArtifactRef> {
    return atBoundary(async (beat) => {
      const { inputFile } = input;
      const signal = Context.current().cancellationSignal;
      // The input is hashed while it is probed and converted (both only read it); the check
      // that it is still the file the run was started for comes before anything is kept.
      const guard = await guardInput(input, signal);
      if (guard.first.size === 0) {
        await guard.check();
        throw failure(Failure.InvalidMedia, `${inputFile} is empty (0 bytes): nothing to transcribe.`);
      }
      const checkUnchanged = guard.check;

      await mkdir(input.interimDir, { recursive: true }).catch(async (err: unknown) => {
        if (isDiskFullError(err)) throw await diskFullError({ dir: path.dirname(input.interimDir), writing: `the folder ${path.basename(input.interimDir)}`, needBytes: null }, err);
        throw err;
      });
      const output = path.join(input.interimDir, 'converted.wav');
      const silencesFile = path.join(input.interimDir, SILENCES_FILE);
      const pipelineId = path.basename(input.interimDir);
      const key = cacheKey('audio_conversion', conversionKeyInputs(input.inputSha256, CONVERSION_SETTINGS));
      // The same bytes were converted before (under any name, by any run): take that audio,
      // once the input is known to still be those bytes.
      // Sizes only: `take` checks the sha256 of what it places.
      if (deps.cache && input.reuseCached !== false && (await deps.cache.peek('audio_conversion', key, { check: 'size' }))) {
        await checkUnchanged();
        const hit = await deps.cache.take('audio_conversion', key, pipelineId, { audio: output, silences: silencesFile }).catch(async (err: unknown) => {
          // Copied where a hard link cannot be made: that takes room.
          if (isDiskFullError(err)) throw await diskFullError({ dir: input.interimDir, writing: 'converted.wav', needBytes: null }, err);
          throw err;
        });
        if (hit?.files.audio && hit.files.silences) {
          await deps.cache.put('audio_conversion', key, {}, { pipelineId, files: hit.files });
          return { ...hit.files.audio, metadata: { ...hit.files.audio.metadata, reused_from: hit.computedBy } };
        }
      }
      const tmp = deps.store.tempPathFor(output);
      await removeStaleTemporaryFiles(input.interimDir, 'converted.wav');
      // Probe and conversion run side by side: what the probe finds wrong (no audio, a cut-off
      // WAV) stops the conversion and is reported in its words; otherwise the conversion
      // has been under way meanwhile.
      const conversion = new AbortController();
      const stopConversion = () => conversion.abort(signal.reason);
      signal.addEventListener('abort', stopConversion, { once: true });
      if (signal.aborted) stopConversion();
      let total: number | null = null;
      try {
        beat({ phase: 'converting', seconds: 0, total });
        const converting = deps.media.toWav16kMono(inputFile, tmp, {
          signal: conversion.signal,
          onProgress: (p) => beat({ phase: 'converting', seconds: p.seconds, total }),
        });
        converting.catch(() => undefined);
        let probe: ProbeResult;
        try {
          // What is wrong with the file now is not the run's input's fault when the file is not
          // that input any more: a change is reported first.
          probe = await deps.media.probe(inputFile, signal).catch(async (err: unknown) => {
            await checkUnchanged();
            throw err;
          });
          if (probe.audioStreams === 0) {
            await checkUnchanged();
            const what = probe.videoStreams > 0 ? 'a video with no audio track' : 'a file with no audio stream';
            throw failure(Failure.InvalidMedia, `${inputFile} is ${what} (${probe.formatName}): there is nothing to transcribe.`);
          }
          await rejectTruncatedWav(inputFile, probe.formatName).catch(async (err: unknown) => {
            await checkUnchanged();
            throw err;
          });
        } catch (err) {
          conversion.abort(err);
          await converting.catch(() => undefined);
          throw err;
        }
        total = probe.durationSeconds;
        // An ffmpeg failure may come from the file going away or changing under it: said as that.
        await converting.catch(async (err: unknown) => {
          await checkUnchanged();
          throw err;
        });
        await checkUnchanged();
        // One read of the result: its sha256, and the silences the chunk planner cuts at.
        beat({ phase: 'hashing', seconds: probe.durationSeconds, total: probe.durationSeconds });
        const { sha256, bytes, info: wav, silences } = await hashWavFindingSilences(tmp, SILENCE_DETECTION, signal);
        if (wav.durationSeconds < 0.1) {
          throw failure(Failure.InvalidMedia, `${inputFile} decodes to ${wav.durationSeconds.toFixed(2)} s of audio: too short to transcribe.`);
        }
        if (probe.durationSeconds !== null && probe.durationSeconds > 2 && wav.durationSeconds < probe.durationSeconds * 0.5) {
          throw failure(
            Failure.InvalidMedia,
            `${inputFile} looks truncated: its header says ${probe.durationSeconds.toFixed(1)} s but only ${wav.durationSeconds.toFixed(1)} s decode.`,
          );
        }
        await deps.store.commit(tmp, output);
        const ref: ArtifactRef = { path: output, sha256, bytes };
        const silencesRef = await deps.store.writeJson(silencesFile, { audio_sha256: ref.sha256, ...SILENCE_DETECTION, silences });
        const result: ArtifactRef = {
          ...ref,
          metadata: {
            duration_s: Math.round(wav.durationSeconds * 1000) / 1000,
            sample_rate: wav.sampleRate,
            channels: wav.channels,
            source_format: probe.formatName,
            source_codec: probe.codec,
            source_sample_rate: probe.sampleRate,
            source_channels: probe.channels,
            source_duration_s: probe.durationSeconds,
            silences: silences.length,
          },
        };
        await deps.cache?.put('audio_conversion', key, conversionKeyInputs(input.inputSha256, CONVERSION_SETTINGS), { pipelineId, files: { audio: result, silences: silencesRef } });
        return result;
      } finally {
        signal.removeEventListener('abort', stopConversion);
        await unlink(tmp).catch(() => undefined);
      }
    });
  };
}

/** What a look at the input shows: enough to tell that it was written to or replaced between two looks. */
type InputLook = Pick<Stats, 'size' | 'mtimeMs' | 'ctimeMs' | 'ino' | 'dev'>;

/**
 * Watches the input for the time the activity reads it. `check` fails the activity unless the
 * file holds the bytes the run was started for (its recorded sha256) and was not written to,
 * replaced or removed since the first look, so the conversion cannot have read anything else.
 */
async function guardInput(input: ConvertAudioInput, signal: AbortSignal): Promise<{ first: InputLook; check: () => Promise<void> }> {
  const file = input.inputFile;
  const first = await stat(file).catch((err: unknown) => {
    throw inputUnreadable(file, err, 'after the run started');
  });
  const hashing = sha256File(file, signal);
  hashing.catch(() => undefined);
  const check = async () => {
    let now: { sha256: string; bytes: number };
    try {
      now = await hashing;
    } catch (err) {
      if (signal.aborted) throw err;
      throw inputUnreadable(file, err, 'while it was being read');
    }
    if (now.sha256 !== input.inputSha256) {
      const look = await stat(file).catch(() => null);
      const recorded = await recordedInputBytes(input);
      throw failure(Failure.InputChanged, changedMessage(file, { recordedSha256: input.inputSha256, recordedBytes: recorded, sha256: now.sha256, bytes: look?.size ?? now.bytes, mtimeMs: look?.mtimeMs ?? first.mtimeMs }));
    }
    const last = await stat(file).catch((err: unknown) => {
      throw inputUnreadable(file, err, 'while it was being converted');
    });
    const what = differences(first, last);
    if (what.length > 0) {
      throw failure(
        Failure.InputChanged,
        `${file} changed while it was being converted (${what.join(', ')}); the conversion may have read some of the new content, so nothing of it was kept. \`speech run\` on the file as it is now starts a run for what it holds.`,
      );
    }
  };
  return { first, check };
}

/** The input is gone (InputMissing, with when it went) or cannot be read. */
function inputUnreadable(file: string, err: unknown, when: string) {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return failure(
      Failure.InputMissing,
      `${file} is missing: it was removed or moved ${when} (or this worker does not see that path); nothing was converted. Put it back and run the same command again, or \`speech run\` it where it is now.`,
    );
  }
  return failure(Failure.InputMissing, `The input file ${file} cannot be read on the worker: ${(err as Error).message}`);
}

/** What differs between two looks at the input, in words. */
function differences(a: InputLook, b: InputLook): string[] {
  const out: string[] = [];
  if (a.dev !== b.dev || a.ino !== b.ino) out.push('replaced by another file');
  if (a.size !== b.size) out.push(`size ${bytes(a.size)} → ${bytes(b.size)}`);
  if (a.mtimeMs !== b.mtimeMs) out.push(`modified at ${when(b.mtimeMs)}`);
  // ctime cannot be set back by tools that restore the modification time.
  if (out.length === 0 && a.ctimeMs !== b.ctimeMs) out.push(`written to at ${when(b.ctimeMs)}, with its size and modification time kept`);
  return out;
}

function changedMessage(file: string, c: { recordedSha256: string; recordedBytes: number | null; sha256: string; bytes: number; mtimeMs: number }): string {
  const size =
    c.recordedBytes === null ? `now ${bytes(c.bytes)}` : c.recordedBytes === c.bytes ? `same size (${bytes(c.bytes)})` : `size ${bytes(c.recordedBytes)} → ${bytes(c.bytes)}`;
  return (
    `${file} changed since the run started: ${size}, modified at ${when(c.mtimeMs)}, content differs (sha256 ${c.sha256.slice(0, 12)}…, ` +
    `the run was started for ${c.recordedSha256.slice(0, 12)}…). Nothing of the new content was used; \`speech run\` on the file as it is now starts a new run for it.`
  );
}

function bytes(n: number): string {
  return `${n.toLocaleString('en-US')} bytes`;
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * The size the run recorded for its input. The workflow gives conversion the recorded sha256
 * only; the state record beside the interim folder (DATA_DIR/checkpoints/<id>_state.json) has
 * the size, and is trusted only for the same sha256.
 */
async function recordedInputBytes(input: ConvertAudioInput): Promise<number | null> {
  const id = path.basename(input.interimDir);
  const recordFile = path.join(path.dirname(path.dirname(input.interimDir)), 'checkpoints', `${id}_state.json`);
  try {
    const r = JSON.parse(await readFile(recordFile, 'utf8')) as { input_sha256?: unknown; input_bytes?: unknown };
    return r.input_sha256 === input.inputSha256 && typeof r.input_bytes === 'number' ? r.input_bytes : null;
  } catch {
    return null;
  }
}

/**
 * A WAV file states its data size up front; ffmpeg decodes whatever is there and only warns.
 * A file cut short (a copy that stopped, a recorder that crashed) is reported, not half-transcribed.
 */
async function rejectTruncatedWav(file: string, formatName: string): Promise<void> {
  if (!/^wav$/i.test(formatName)) return;
  let info;
  try {
    info = await readWavInfo(file);
  } catch {
    return; // Not a plain RIFF layout (e.g. RF64); ffmpeg's own checks apply.
  }
  if (info.declaredDataBytes !== null && info.declaredDataBytes > info.dataBytes + info.bytesPerSecond * 0.05) {
    const said = info.declaredDataBytes / info.bytesPerSecond;
    throw failure(
      Failure.InvalidMedia,
      `${file} is truncated: its header promises ${said.toFixed(1)} s of audio but the file holds ${info.durationSeconds.toFixed(1)} s. Copy the complete file again.`,
    );
  }
}

/** A worker killed mid-write leaves its temporary file behind (`.NAME.<pid>.<random>.tmp`); the next attempt clears it. */
export async function removeStaleTemporaryFiles(dir: string, name: string): Promise<void> {
  const prefix = `.${name}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const f of names) {
    if (f.startsWith(prefix) && f.endsWith('.tmp')) await unlink(path.join(dir, f)).catch(() => undefined);
  }
}
