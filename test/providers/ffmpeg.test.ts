// The ffmpeg adapter's abort: whenever it comes, ffmpeg is gone when the call settles and
// writes nothing afterwards, so callers can remove partial output safely.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createFfmpegProcessor } from '../../src/providers/ffmpeg';
import { makeLongRecording } from '../helpers/audio';
import { testTmpDir } from '../helpers/temporal';

describe('ffmpeg adapter', () => {
  let dir: string;
  let input: string;
  const media = createFfmpegProcessor();
  const running = (file: string) => spawnSync('pgrep', ['-f', `ffmpeg.*${file}`], { encoding: 'utf8' }).stdout.trim();

  before(async function () {
    this.timeout(60_000);
    dir = await testTmpDir('speech-ffmpeg-');
    // An hour at 44.1 kHz: resampling it takes long enough to be interrupted.
    input = (await makeLongRecording({ dir, seconds: 3600, sampleRate: 44100, name: 'hour' })).path;
  });
  after(() => rm(dir, { recursive: true, force: true }));

  for (const [when, wait] of [
    ['in the same tick as the call, before ffmpeg has started', -1],
    ['while ffmpeg converts', 150],
  ] as const) {
    it(`an abort ${when} leaves no ffmpeg and no output`, async () => {
      const output = path.join(dir, `out-${wait}.wav`);
      const ac = new AbortController();
      const converting = media.toWav16kMono(input, output, { signal: ac.signal });
      if (wait >= 0) await new Promise((r) => setTimeout(r, wait));
      ac.abort(new Error('stop'));
      await assert.rejects(converting, /stop/);
      assert.equal(running(output), '', 'ffmpeg still runs after the call settled');
      await rm(output, { force: true });
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(existsSync(output), false, 'ffmpeg wrote the output after the call settled');
    });
  }
});
