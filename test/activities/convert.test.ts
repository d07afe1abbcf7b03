// audio_conversion on real ffmpeg: every container the product promises, made here by
// ffmpeg itself, and the bad inputs that must fail at once with a plain reason.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
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

  describe('an input that is not the file the run was started for', () => {
    let source: string;
    before(() => {
      source = path.join(dir, 'recorded.flac');
      ffmpeg([...tone(), '-filter_complex', 'amix=inputs=2', '-c:a', 'flac', source]);
    });
    /** A copy of the recording, with DATA_DIR-like folders, with the state record the run wrote for it. */
    async function startedRun(name: string) {
      const data = path.join(dir, `data-${name}`);
      const file = path.join(dir, `${name}.flac`);
      await copyFile(source, file);
      const { sha256, bytes } = await sha256File(file);
      const id = `speech-${name}-0123456789ab`;
      await mkdir(path.join(data, 'checkpoints'), { recursive: true });
      await writeFile(path.join(data, 'checkpoints', `${id}_state.json`), JSON.stringify({ pipeline_id: id, input_sha256: sha256, input_bytes: bytes }));
      const interimDir = path.join(data, 'interim', id);
      return { file, sha256, bytes, interimDir, input: { inputFile: file, inputSha256: sha256, interimDir } };
    }
    const failsWith = (type: string, re: RegExp) => (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, type, err.message);
      assert.equal(err.nonRetryable, true);
      assert.doesNotMatch(err.message, /\n/);
      assert.match(err.message, re);
      return true;
    };
    const nothingKept = async (interimDir: string) => assert.deepEqual(await readdir(interimDir).catch(() => []), []);
    const sha12 = (s: string) => s.slice(0, 12);

    it('changed content and size: says size, modification time and content, and converts nothing', async () => {
      const r = await startedRun('grown');
      const original = await readFile(r.file);
      await writeFile(r.file, Buffer.concat([original, Buffer.alloc(1000)]));
      const now = await sha256File(r.file);
      await assert.rejects(
        mockActivityEnv().run(convertAudio, r.input),
        failsWith(
          'InputChanged',
          new RegExp(
            `^${escapeRe(r.file)} changed since the run started: size ${r.bytes.toLocaleString('en-US')} bytes → ${(r.bytes + 1000).toLocaleString('en-US')} bytes, modified at \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ, content differs \\(sha256 ${sha12(now.sha256)}…, the run was started for ${sha12(r.sha256)}…\\)\\. Nothing of the new content was used; \`speech run\` on the file as it is now starts a new run for it\\.$`,
          ),
        ),
      );
      await nothingKept(r.interimDir);
    });

    it('same size, other bytes: says the content changed at the same size', async () => {
      const r = await startedRun('flipped');
      const bytes = await readFile(r.file);
      bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
      await writeFile(r.file, bytes);
      await assert.rejects(mockActivityEnv().run(convertAudio, r.input), failsWith('InputChanged', new RegExp(`changed since the run started: same size \\(${r.bytes.toLocaleString('en-US')} bytes\\), modified at .*, content differs`)));
      await nothingKept(r.interimDir);
    });

    it('emptied: a change, not "empty file"', async () => {
      const r = await startedRun('emptied');
      await writeFile(r.file, '');
      await assert.rejects(mockActivityEnv().run(convertAudio, r.input), failsWith('InputChanged', /size [\d,]+ bytes → 0 bytes/));
    });

    it('removed: InputMissing, saying so', async () => {
      const r = await startedRun('removed');
      await rm(r.file);
      await assert.rejects(
        mockActivityEnv().run(convertAudio, r.input),
        failsWith('InputMissing', new RegExp(`^${escapeRe(r.file)} is missing: it was removed or moved after the run started \\(or this worker does not see that path\\); nothing was converted\\.`)),
      );
      await nothingKept(r.interimDir);
    });

    // The input's sha256 is taken while ffmpeg reads it: a change after the hash finished but
    // before ffmpeg read the file would pass the hash check with new audio. The file's looks
    // before and after give it away.
    const changingUnderFfmpeg = (change: (file: string) => Promise<void>) => {
      const real = createFfmpegProcessor();
      return makeConvertAudio({
        store,
        media: {
          ...real,
          async toWav16kMono(input, output, opts) {
            // Long after a 3-second FLAC is hashed.
            await new Promise((r) => setTimeout(r, 300));
            await change(input);
            return real.toWav16kMono(input, output, opts);
          },
        },
      });
    };

    it('changed while ffmpeg reads it (after it was hashed): nothing of the conversion is kept', async () => {
      const r = await startedRun('swapped');
      const other = path.join(dir, 'swapped-other.flac');
      ffmpeg([...tone(2), '-filter_complex', 'amix=inputs=2', '-c:a', 'flac', other]);
      const convert = changingUnderFfmpeg(async (file) => writeFile(file, await readFile(other)));
      await assert.rejects(
        mockActivityEnv().run(convert, r.input),
        failsWith('InputChanged', new RegExp(`^${escapeRe(r.file)} changed while it was being converted \\(size [\\d,]+ bytes → [\\d,]+ bytes, modified at [^)]+\\); the conversion may have read some of the new content, so nothing of it was kept\\.`)),
      );
      await nothingKept(r.interimDir);
    });

    it('rewritten in place with its size and modification time put back: still caught', async () => {
      const r = await startedRun('touched');
      const convert = changingUnderFfmpeg(async (file) => {
        // touch -r keeps the nanoseconds, as cp -p and rsync -t do.
        const ref = `${file}.times`;
        await writeFile(ref, '');
        spawnSync('touch', ['-r', file, ref]);
        const bytes = await readFile(file);
        bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
        await writeFile(file, bytes);
        spawnSync('touch', ['-r', ref, file]);
        const [a, b] = await Promise.all([stat(file), stat(ref)]);
        assert.equal(a.mtimeMs, b.mtimeMs);
      });
      await assert.rejects(mockActivityEnv().run(convert, r.input), failsWith('InputChanged', /changed while it was being converted \(written to at .*, with its size and modification time kept\)/));
      await nothingKept(r.interimDir);
    });

    it('replaced after it was converted: the run keeps the conversion of the recorded bytes', async () => {
      const r = await startedRun('later');
      const ref = await mockActivityEnv().run(convertAudio, r.input);
      await writeFile(r.file, 'something else entirely');
      const kept = await sha256File(ref.path);
      assert.equal(kept.sha256, ref.sha256);
      // The same audio a conversion of the recorded bytes gives (conversion is byte-identical).
      const again = await convert(source, path.join(dir, 'interim', 'later-again'));
      assert.equal(again.sha256, ref.sha256);
    });
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

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
