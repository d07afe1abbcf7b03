// A full disk met by each writer of the product, on a real tmpfs that runs out of room: the
// failure is DiskFull with one line naming the folder, what it needed and what is free; the
// file under its final name is the earlier, complete one; no temporary file is left.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { makeConvertAudio } from '../../src/activities/convert';
import type { MergedTranscript } from '../../src/domain/types';
import { createFsArtifactStore, diskFullError, isDiskFullError, sha256File } from '../../src/providers/artifact-store';
import { ProviderError } from '../../src/providers/errors';
import { createFfmpegProcessor } from '../../src/providers/ffmpeg';
import { readOutputLedger, writeExports } from '../../src/providers/output-files';
import { mockActivityEnv, testTmpDir } from '../helpers/temporal';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs';

const diskFull = (re: RegExp) => (err: unknown) => {
  assert.ok(err instanceof ProviderError, `not a ProviderError: ${String(err)}`);
  assert.equal(err.type, 'DiskFull', err.message);
  assert.doesNotMatch(err.message, /\n/);
  assert.match(err.message, re);
  return true;
};

describe('a full disk (tmpfs), for every writer', function () {
  this.timeout(60_000);
  const store = createFsArtifactStore();
  const media = createFfmpegProcessor();
  let dir: string;
  let fs: Tmpfs;
  let source: string;

  before(async () => {
    dir = await testTmpDir('speech-diskfull-');
    fs = await mountTmpfs(path.join(dir, 'mnt'), '1m');
    // 20 s at 16 kHz mono: 640 KB as WAV, more than the room the tests leave.
    source = path.join(dir, 'tone.flac');
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=330:duration=20', '-ar', '16000', '-ac', '1', source], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
  afterEach(() => fs.unfill());
  after(async () => {
    await fs?.unmount();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('an atomic write keeps the earlier file whole and says what it needed', async () => {
    const file = path.join(fs.dir, 'state', 'run_state.json');
    await store.writeJson(file, { revision: 1 });
    await fs.fill();
    const big = { revision: 2, padding: 'x'.repeat(20_000) };
    await assert.rejects(store.writeJson(file, big), diskFull(new RegExp(`^No space left in ${fs.dir}/state: writing run_state\\.json needs 19\\.\\d KiB, and 0 B is free there\\. Free some space .* set DATA_DIR .*finished stages are kept\\.$`)));
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { revision: 1 });
    assert.deepEqual(await readdir(path.dirname(file)), ['run_state.json']);
    await fs.unfill();
    await store.writeJson(file, big);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).revision, 2);
  });

  it('no free inodes (space left, no file entries) is said as such', async () => {
    const small = await mountTmpfs(path.join(dir, 'inodes'), '1m', 8);
    try {
      const folder = path.join(small.dir, 'state');
      await mkdir(folder);
      await store.writeJson(path.join(folder, 'kept.json'), { ok: true });
      for (let i = 0; ; i++) {
        try {
          await writeFile(path.join(small.dir, `f${i}`), '');
        } catch (err) {
          assert.equal(isDiskFullError(err), true);
          break;
        }
      }
      await assert.rejects(store.writeJson(path.join(folder, 'kept.json'), { ok: false }), diskFull(new RegExp(`^No space left in ${folder}: its file system has no free inodes \\(file entries\\) for writing kept\\.json, though \\d+\\.\\d KiB is free\\.`)));
      assert.deepEqual(JSON.parse(await readFile(path.join(folder, 'kept.json'), 'utf8')), { ok: true });
    } finally {
      await small.unmount();
    }
  });

  it('a used-up quota (EDQUOT) is a full disk too, said as a quota', async () => {
    const quota = Object.assign(new Error('EDQUOT: disk quota exceeded, write'), { code: 'EDQUOT' });
    assert.equal(isDiskFullError(quota), true);
    assert.equal(isDiskFullError(Object.assign(new Error('EIO'), { code: 'EIO' })), false);
    const err = await diskFullError({ dir, writing: 'merged.json', needBytes: 2048 }, quota);
    diskFull(new RegExp(`^Disk quota exceeded in ${dir}: writing merged\\.json needs 2\\.0 KiB, beyond this user's quota there\\. Free some space`))(err);
  });

  for (const [what, leave] of [
    ['mid-stream (ffmpeg exits 1)', 200 * 1024],
    ['only in its last write (ffmpeg 5 exits 0 and leaves a WAV cut a second short)', 610 * 1024],
  ] as const) {
    it(`ffmpeg meeting a full disk ${what} fails DiskFull and leaves no cut-off WAV`, async () => {
      await fs.fill(leave);
      const out = store.tempPathFor(path.join(fs.dir, 'conv', 'converted.wav'));
      spawnSync('mkdir', ['-p', path.dirname(out)]);
      await assert.rejects(media.toWav16kMono(source, out, {}), diskFull(/ in \S+\/conv: writing converted\.wav needs about 625\.\d KiB, and \d+\.\d KiB is free there\./));
      assert.deepEqual(await readdir(path.dirname(out)), []);
    });
  }

  it('an upload encoding meeting a full disk fails DiskFull and leaves nothing', async () => {
    await fs.fill(8 * 1024);
    const out = store.tempPathFor(path.join(fs.dir, 'up', 'upload.wav'));
    spawnSync('mkdir', ['-p', path.dirname(out)]);
    await assert.rejects(media.encodeUpload(source, out, { format: { codec: 'wav', bitrateKbps: null }, span: { start: 0, end: 10 } }), diskFull(/writing upload\.wav needs about 312\.\d KiB/));
    assert.deepEqual(await readdir(path.dirname(out)), []);
  });

  it('conversion into a full DATA_DIR fails DiskFull (not "could not be decoded"), keeps nothing, and works once there is room', async () => {
    const convertAudio = makeConvertAudio({ media, store });
    const interim = path.join(fs.dir, 'interim', 'speech-tone-0123456789ab');
    const { sha256 } = await sha256File(source);
    // Room for all but the last second: the WAV would be cut short, not refused, by ffmpeg alone.
    await fs.fill(610 * 1024);
    await assert.rejects(mockActivityEnv().run(convertAudio, { inputFile: source, inputSha256: sha256, interimDir: interim }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'DiskFull', err.message);
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, new RegExp(`^No space left in ${interim}: writing converted\\.wav needs about 625\\.\\d KiB, and \\d+\\.\\d KiB is free there\\.`));
      return true;
    });
    assert.deepEqual(await readdir(interim), []);
    await fs.unfill();
    const ref = await mockActivityEnv().run(convertAudio, { inputFile: source, inputSha256: sha256, interimDir: interim });
    assert.equal(ref.bytes, 640_044);
  });

  it('exports into a full output folder: the earlier outputs stay whole, the line names the folder and every file still to write', async () => {
    const interim = path.join(dir, 'interim', 'speech-x');
    const merged: MergedTranscript = {
      source: 'x.wav',
      duration: 4,
      language: 'en',
      speakers: ['SPEAKER_00'],
      utterances: [{ speaker: 'SPEAKER_00', start: 0, end: 2, text: 'Hello there.', words: [{ word: 'Hello', start: 0, end: 1, speaker: 'SPEAKER_00' }, { word: 'there.', start: 1, end: 2, speaker: 'SPEAKER_00' }] }],
    };
    const ref = await store.writeJson(path.join(interim, 'merged.json'), merged);
    const outDir = path.join(fs.dir, 'out');
    const first = await writeExports(store, { merged: ref, formats: ['json', 'txt'], outDir, baseName: 'x', overwrite: false });
    const before = await Promise.all(first.map((r) => readFile(r.path)));
    // The same run renders again after a rename (new bytes), into a folder with no room.
    await writeFile(path.join(interim, 'speaker-names.json'), JSON.stringify({ names: { SPEAKER_00: 'Alice' } }));
    await fs.fill();
    await assert.rejects(
      writeExports(store, { merged: ref, formats: ['json', 'txt', 'srt'], outDir, baseName: 'x', overwrite: false }),
      diskFull(new RegExp(`^No space left in the output folder ${outDir}: writing x\\.json, x\\.txt, x\\.srt needs \\d+ B, and 0 B is free there\\. Free some space there or choose another folder with --out DIR`)),
    );
    assert.deepEqual(await Promise.all(first.map((r) => readFile(r.path))), before);
    assert.deepEqual((await readdir(outDir)).sort(), ['x.json', 'x.txt']);
    await fs.unfill();
    const again = await writeExports(store, { merged: ref, formats: ['json', 'txt', 'srt'], outDir, baseName: 'x', overwrite: false });
    assert.match(await readFile(again[1]!.path, 'utf8'), /Alice/);
    assert.equal((await readOutputLedger(interim)).size, 3);
  });
});
