// audio_conversion on real ffmpeg: every container the product promises, made here by
// ffmpeg itself, and the bad inputs that must fail at once with a plain reason.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { makeConvertAudio } from '../../src/activities/convert';
import { createFsArtifactStore, sha256File } from '../../src/providers/artifact-store';
import { createFfmpegProcessor } from '../../src/providers/ffmpeg';
import { readWavInfo } from '../../src/providers/wav';
import { makeLongRecording } from '../helpers/audio';
import { mockActivityEnv, testTmpDir } from '../helpers/temporal';

function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

/** A 3-second source: a tone on the left, another on the right (stereo when asked). */
const tone = (seconds = 3) => ['-f', 'lavfi', '-i', `sine=frequency=330:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=frequency=550:duration=${seconds}`];

const FORMATS: { name: string; file: string; args: string[] }[] = [
  { name: 'WAV 8 kHz mono', file: 'a8k.wav', args: [...tone(), '-filter_complex', 'amix=inputs=2', '-ar', '8000', '-ac', '1'] },
  { name: 'WAV 44.1 kHz stereo', file: 'a44.wav', args: [...tone(), '-filter_complex', 'join=inputs=2:channel_layout=stereo', '-ar', '44100'] },
  { name: 'MP3', file: 'a.mp3', args: [...tone(), '-filter_complex', 'amix=inputs=2', '-c:a', 'libmp3lame', '-b:a', '64k'] },
  { name: 'M4A (AAC)', file: 'a.m4a', args: [...tone(), '-filter_complex', 'amix=inputs=2', '-c:a', 'aac', '-b:a', '64k'] },
  { name: 'OGG (Opus)', file: 'a.ogg', args: [...tone(), '-filter_complex', 'amix=inputs=2', '-c:a', 'libopus', '-b:a', '32k'] },
  { name: 'FLAC', file: 'a.flac', args: [...tone(), '-filter_complex', 'amix=inputs=2', '-c:a', 'flac'] },
  {
    name: 'MP4 video (H.264 + AAC)',
    file: 'v.mp4',
    args: ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10:duration=3', ...tone(), '-filter_complex', '[1:a][2:a]amix=inputs=2[a]', '-map', '0:v', '-map', '[a]', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest'],
  },
  {
    name: 'WebM video (VP8 + Opus)',
    file: 'v.webm',
    args: ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10:duration=3', ...tone(), '-filter_complex', '[1:a][2:a]amix=inputs=2[a]', '-map', '0:v', '-map', '[a]', '-c:v', 'libvpx', '-b:v', '200k', '-c:a', 'libopus', '-shortest'],
  },
];

describe('convertAudio activity (real ffmpeg)', function () {
  this.timeout(120_000);
  let dir: string;
  const store = createFsArtifactStore();
  const convertAudio = makeConvertAudio({ media: createFfmpegProcessor(), store });

  before(async () => {
    dir = await testTmpDir('speech-convert-');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function convert(file: string, interim = path.join(dir, 'interim', path.basename(file))) {
    const { sha256 } = await sha256File(file);
    return mockActivityEnv().run(convertAudio, { inputFile: file, inputSha256: sha256, interimDir: interim });
  }

  for (const f of FORMATS) {
    it(`converts ${f.name} to 16 kHz mono WAV`, async () => {
      const src = path.join(dir, f.file);
      ffmpeg([...f.args, src]);
      const ref = await convert(src);
      const info = await readWavInfo(ref.path);
      assert.equal(info.sampleRate, 16000);
      assert.equal(info.channels, 1);
      assert.equal(info.bitsPerSample, 16);
      assert.ok(Math.abs(info.durationSeconds - 3) < 0.15, `duration ${info.durationSeconds}`);
      const { sha256, bytes } = await sha256File(ref.path);
      assert.equal(ref.sha256, sha256);
      assert.equal(ref.bytes, bytes);
      assert.equal(ref.metadata?.sample_rate, 16000);
      // The audio is really there, not silence.
      const pcm = (await readFile(ref.path)).subarray(info.dataOffset);
      let peak = 0;
      for (let i = 0; i < pcm.length; i += 2) peak = Math.max(peak, Math.abs(pcm.readInt16LE(i)));
      assert.ok(peak > 1000, `peak ${peak}`);
    });
  }

  it('finds the silences in the same pass and records them for the chunk planner', async () => {
    const src = path.join(dir, 'gap.flac');
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=300:duration=2', '-f', 'lavfi', '-i', 'anullsrc=r=44100:cl=stereo:d=1.2', '-f', 'lavfi', '-i', 'sine=frequency=500:duration=2', '-filter_complex', '[0:a]aformat=channel_layouts=stereo:sample_rates=44100[a];[2:a]aformat=channel_layouts=stereo:sample_rates=44100[c];[a][1:a][c]concat=n=3:v=0:a=1', '-c:a', 'flac', src]);
    const interim = path.join(dir, 'interim-gap');
    const ref = await convert(src, interim);
    const found = JSON.parse(await readFile(path.join(interim, 'silences.json'), 'utf8')) as { audio_sha256: string; silences: { start: number; end: number }[] };
    assert.equal(found.audio_sha256, ref.sha256);
    assert.equal(found.silences.length, 1, JSON.stringify(found.silences));
    assert.ok(Math.abs(found.silences[0]!.start - 2) < 0.05 && Math.abs(found.silences[0]!.end - 3.2) < 0.05, JSON.stringify(found.silences));
    assert.equal(ref.metadata?.silences, 1);
  });

  it('gives byte-identical output for the same input (so resumed runs match)', async () => {
    const src = path.join(dir, 'a.mp3');
    const a = await convert(src, path.join(dir, 'again-1'));
    const b = await convert(src, path.join(dir, 'again-2'));
    assert.equal(a.sha256, b.sha256);
  });

  async function expectInvalid(file: string, pattern: RegExp) {
    const interim = path.join(dir, 'interim', path.basename(file));
    await assert.rejects(convert(file, interim), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, `expected ApplicationFailure, got ${String(err)}`);
      assert.equal(err.type, 'InvalidMedia');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, pattern);
      return true;
    });
    // The conversion that ran beside the probe left nothing: no result, no temporary file.
    const left = await readdir(interim).catch(() => []);
    assert.deepEqual(left, [], `left in ${interim}: ${left.join(', ')}`);
  }

  it('rejects a video with no audio track', async () => {
    const src = path.join(dir, 'silent-video.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10:duration=2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', src]);
    await expectInvalid(src, /no audio track/);
  });

  it('rejects a file that is not media', async () => {
    const src = path.join(dir, 'notes.mp3');
    await writeFile(src, 'These are meeting notes, not audio.\n'.repeat(50));
    await expectInvalid(src, /Not a readable audio or video file/);
  });

  it('rejects an empty file', async () => {
    const src = path.join(dir, 'empty.wav');
    await writeFile(src, '');
    await expectInvalid(src, /is empty/);
  });

  it('rejects a truncated MP4', async () => {
    const whole = await readFile(path.join(dir, 'v.mp4'));
    const src = path.join(dir, 'truncated.mp4');
    // ffmpeg writes the index (moov) at the end: cutting the file loses it.
    await writeFile(src, whole.subarray(0, Math.floor(whole.length / 2)));
    await expectInvalid(src, /moov atom not found|Not a readable|truncated|decoded/);
  });

  it('rejects a truncated WAV whose header promises more audio', async () => {
    const src = path.join(dir, 'long.wav');
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=20', '-ar', '16000', '-ac', '1', src]);
    const whole = await readFile(src);
    const cut = path.join(dir, 'cut.wav');
    await writeFile(cut, whole.subarray(0, Math.floor(whole.length / 5)));
    await expectInvalid(cut, /truncated/);
  });

  it('refuses an input that changed since the run started', async () => {
    const src = path.join(dir, 'a.flac');
    await assert.rejects(
      mockActivityEnv().run(convertAudio, { inputFile: src, inputSha256: '0'.repeat(64), interimDir: path.join(dir, 'changed') }),
      (err: unknown) => err instanceof ApplicationFailure && err.type === 'InputMissing' && /changed since the run started/.test(err.message),
    );
  });

  it('stops ffmpeg on cancellation, however early, and keeps no partial output', async function () {
    this.timeout(60_000);
    // Long enough at 44.1 kHz that the resampling is still running when the cancel arrives.
    const long = await makeLongRecording({ dir, seconds: 3600, sampleRate: 44100, name: 'hour' });
    const { sha256 } = await sha256File(long.path);
    const ffmpegFor = (file: string) =>
      spawnSync('pgrep', ['-f', `ffmpeg.*${file}`], { encoding: 'utf8' }).stdout.trim();
    for (const afterMs of [0, 150]) {
      const interim = path.join(dir, 'interim', `cancelled-${afterMs}`);
      const { env, run } = mockActivityEnv();
      const running = run(convertAudio, { inputFile: long.path, inputSha256: sha256, interimDir: interim });
      await new Promise((r) => setTimeout(r, afterMs));
      env.cancel();
      await assert.rejects(running, (err: unknown) => err instanceof CancelledFailure);
      assert.equal(ffmpegFor(long.path), '', `ffmpeg still runs after a cancel at ${afterMs} ms`);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(await readdir(interim).catch(() => []), [], `files left after a cancel at ${afterMs} ms`);
    }
    await rm(long.path, { force: true });
  });
});
