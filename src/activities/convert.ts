// audio_conversion: probe the source, convert its first audio stream to 16 kHz mono WAV.
import { Context } from '@temporalio/activity';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { CONVERSION_SETTINGS, SILENCE_DETECTION } from '../domain/conversion';
import { Failure } from '../domain/failures';
import type { ArtifactRef } from '../domain/types';
import { sha256File, type ArtifactStore } from '../providers/artifact-store';
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
      let size: number;
      try {
        size = (await stat(inputFile)).size;
      } catch (err) {
        throw failure(Failure.InputMissing, `The input file ${inputFile} cannot be read on the worker: ${(err as Error).message}`);
      }
      if (size === 0) throw failure(Failure.InvalidMedia, `${inputFile} is empty (0 bytes): nothing to transcribe.`);
      // The input is hashed while it is probed and converted (both only read it); the check
      // that it is still the file the run was started for comes before anything is kept.
      const hashing = sha256File(inputFile, signal);
      hashing.catch(() => undefined);
      const checkUnchanged = async () => {
        if ((await hashing).sha256 !== input.inputSha256) {
          throw failure(Failure.InputMissing, `${inputFile} changed since the run started (sha256 differs); start a new run for the new content.`);
        }
      };

      await mkdir(input.interimDir, { recursive: true });
      const output = path.join(input.interimDir, 'converted.wav');
      const silencesFile = path.join(input.interimDir, SILENCES_FILE);
      const pipelineId = path.basename(input.interimDir);
      const key = cacheKey('audio_conversion', conversionKeyInputs(input.inputSha256, CONVERSION_SETTINGS));
      // The same bytes were converted before (under any name, by any run): take that audio,
      // once the input is known to still be those bytes.
      // Sizes only: `take` checks the sha256 of what it places.
      if (deps.cache && input.reuseCached !== false && (await deps.cache.peek('audio_conversion', key, { check: 'size' }))) {
        await checkUnchanged();
        const hit = await deps.cache.take('audio_conversion', key, pipelineId, { audio: output, silences: silencesFile });
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
          probe = await deps.media.probe(inputFile, signal).catch(async (err: unknown) => {
            await checkUnchanged();
            throw err;
          });
          if (probe.audioStreams === 0) {
            await checkUnchanged();
            const what = probe.videoStreams > 0 ? 'a video with no audio track' : 'a file with no audio stream';
            throw failure(Failure.InvalidMedia, `${inputFile} is ${what} (${probe.formatName}): there is nothing to transcribe.`);
          }
          await rejectTruncatedWav(inputFile, probe.formatName);
        } catch (err) {
          conversion.abort(err);
          await converting.catch(() => undefined);
          throw err;
        }
        total = probe.durationSeconds;
        await converting;
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
