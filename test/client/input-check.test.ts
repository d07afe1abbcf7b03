// The input check of `speech run` on real files made by ffmpeg: complete recordings in the
// common containers pass with their length; files whose header claims more audio than they
// hold are refused, in every container that can claim a length, and only those.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { checkFile, checkInputs, escapeName, MIN_AUDIO_SECONDS } from '../../src/client/input-check';
import { run } from '../helpers/audio';
import { testTmpDir } from '../helpers/temporal';

const FFMPEG = process.env.FFMPEG_PATH || 'ffmpeg';
const tools = { ffmpegPath: process.env.FFMPEG_PATH, ffprobePath: process.env.FFPROBE_PATH };

/** ffmpeg from lavfi sources: `-f lavfi -i sine…` and friends, then output args. */
async function make(file: string, args: string[]): Promise<string> {
  await run(FFMPEG, ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args, file]);
  return file;
}

const sine = (seconds: number) => ['-f', 'lavfi', '-i', `sine=f=300:sample_rate=16000:d=${seconds}`];

/** Keeps the first `fraction` of a file's bytes, as a copy that stopped does. */
async function cutTo(file: string, fraction: number, out: string): Promise<string> {
  const bytes = await readFile(file);
  await writeFile(out, bytes.subarray(0, Math.floor(bytes.length * fraction)));
  return out;
}

async function check(file: string) {
  return checkFile(file, path.basename(file), tools);
}

function refusal(r: Awaited<ReturnType<typeof check>>): string {
  assert.ok('problem' in r, `expected a refusal, got ${JSON.stringify(r)}`);
  return r.problem.message;
}

describe('input check (speech run, before anything starts)', function () {
  this.timeout(120_000);
  let dir: string;

  before(async () => {
    dir = await testTmpDir('speech-input-check-');
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes complete recordings in the common containers with the length they hold', async () => {
    const files = [
      await make(path.join(dir, 'ok.wav'), sine(30)),
      await make(path.join(dir, 'ok.mp3'), [...sine(30), '-b:a', '64k']),
      await make(path.join(dir, 'ok.m4a'), [...sine(30), '-c:a', 'aac', '-b:a', '48k']),
      await make(path.join(dir, 'ok-faststart.m4a'), [...sine(30), '-c:a', 'aac', '-b:a', '48k', '-movflags', '+faststart']),
      await make(path.join(dir, 'ok.ogg'), [...sine(30), '-c:a', 'libopus']),
      await make(path.join(dir, 'ok.flac'), sine(30)),
      // ffmpeg finds nothing after a seek in ADPCM WAV: the check must not take that for a cut.
      await make(path.join(dir, 'ok-adpcm.wav'), [...sine(30), '-c:a', 'adpcm_ima_wav']),
      await make(path.join(dir, 'ok.webm'), ['-f', 'lavfi', '-i', 'testsrc=s=64x48:r=5:d=30', ...sine(30), '-c:v', 'libvpx', '-b:v', '50k', '-c:a', 'libopus']),
    ];
    for (const f of files) {
      const r = await check(f);
      assert.ok('audioSeconds' in r, `${path.basename(f)}: ${JSON.stringify(r)}`);
      assert.ok(r.audioSeconds !== null && Math.abs(r.audioSeconds - 30) < 0.2, `${path.basename(f)}: ${r.audioSeconds}`);
    }
  });

  it('passes a video whose audio ends before the picture (a shorter track, not a cut-off file)', async () => {
    const mkv = await make(path.join(dir, 'short-audio.mkv'), ['-f', 'lavfi', '-i', 'testsrc=s=64x48:r=5:d=40', ...sine(25), '-map', '0', '-map', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'libopus']);
    assert.ok('audioSeconds' in (await check(mkv)), JSON.stringify(await check(mkv)));
  });

  it('refuses files cut short whose header claims the whole length, in each container that claims one', async () => {
    const mp3 = await make(path.join(dir, 'long.mp3'), [...sine(30), '-b:a', '64k']);
    const flac = await make(path.join(dir, 'long.flac'), sine(30));
    const m4a = await make(path.join(dir, 'long.m4a'), [...sine(30), '-c:a', 'aac', '-b:a', '48k', '-movflags', '+faststart']);
    const webm = await make(path.join(dir, 'long.webm'), ['-f', 'lavfi', '-i', 'testsrc=s=64x48:r=5:d=30', ...sine(30), '-c:v', 'libvpx', '-b:v', '50k', '-c:a', 'libopus']);
    for (const f of [mp3, flac, m4a, webm]) {
      const cut = await cutTo(f, 0.4, path.join(dir, `cut-${path.basename(f)}`));
      const line = refusal(await check(cut));
      const m = /^cut-long\.\w+ is cut short: its header says 30\.\d s of audio, but the audio stops at (\d+\.\d) s, .*nothing was started\. Copy the complete file again, or keep what is there with: ffmpeg -i /.exec(line);
      assert.ok(m, line);
      // 40 % of the bytes: about 12 s of the 30 (less where headers or a video track take their share).
      assert.ok(Number(m[1]) > 8 && Number(m[1]) < 13, line);
    }
    // Cut within the decoded tail: where the audio stops is said.
    const near = await cutTo(mp3, 0.9, path.join(dir, 'near.mp3'));
    assert.match(refusal(await check(near)), /near\.mp3 is cut short: its header says 30\.\d s of audio, but the audio stops at 2[67]\.\d s/);
    // The repair it suggests gives a file that passes.
    const fixed = path.join(dir, 'fixed.mp3');
    await run(FFMPEG, ['-v', 'error', '-y', '-i', near, '-c', 'copy', fixed]);
    assert.ok('audioSeconds' in (await check(fixed)));
  });

  it('refuses a WAV whose header promises hours but holds seconds, without decoding it', async () => {
    const wav = await make(path.join(dir, 'short.wav'), sine(3));
    const bytes = await readFile(wav);
    const at = bytes.indexOf('data');
    bytes.writeUInt32LE(2 * 3600 * 32_000, at + 4);
    await writeFile(wav, bytes);
    assert.match(refusal(await check(wav)), /^short\.wav is cut short: its WAV header promises 02:00:00 of audio, but the file holds 00:00:03/);
  });

  it('takes a length that ffmpeg only estimates as no claim (an MP3 without a Xing header cut short is what it is)', async () => {
    const raw = await make(path.join(dir, 'noxing.mp3'), [...sine(30), '-b:a', '64k', '-write_xing', '0']);
    const cut = await cutTo(raw, 0.5, path.join(dir, 'noxing-cut.mp3'));
    const r = await check(cut);
    assert.ok('audioSeconds' in r, JSON.stringify(r));
    assert.ok(r.audioSeconds !== null && r.audioSeconds > 13 && r.audioSeconds < 17, String(r.audioSeconds));
  });

  it('refuses an MP4 without its index, audio shorter than the minimum, and undecodable data', async () => {
    const m4a = await make(path.join(dir, 'moov-last.m4a'), [...sine(10), '-c:a', 'aac']);
    const cut = await cutTo(m4a, 0.5, path.join(dir, 'no-moov.m4a'));
    assert.match(refusal(await check(cut)), /no-moov\.m4a is an unfinished MP4\/MOV\/M4A: its index \(the moov atom\) is missing/);
    for (const ext of ['wav', 'mp3']) {
      const tiny = await make(path.join(dir, `tiny.${ext}`), sine(0.05));
      assert.match(refusal(await check(tiny)), new RegExp(`tiny\\.${ext} holds 0\\.0\\d s of audio: too short to transcribe \\(the minimum is ${MIN_AUDIO_SECONDS} s\\)`));
    }
    const noise = path.join(dir, 'noise.mp3');
    await writeFile(noise, Buffer.alloc(40_000, 7));
    assert.match(refusal(await check(noise)), /Not a readable audio or video file: noise\.mp3 \(ffmpeg recognises no audio or video format in it\)/);
  });

  it('expands folders in name order, takes each file once, and refuses what is not a file without opening it', async () => {
    const folder = path.join(dir, 'folder');
    await mkdir(folder);
    await make(path.join(folder, 'b.wav'), sine(1));
    await make(path.join(folder, 'a.wav'), sine(1));
    await writeFile(path.join(folder, 'notes.txt'), 'not taken: no media extension');
    await symlink('/dev/zero', path.join(folder, 'zero.wav'));
    const raw = Buffer.concat([Buffer.from(`${folder}/caf`), Buffer.from([0xe9]), Buffer.from('.wav')]);
    await writeFile(raw, await readFile(path.join(folder, 'a.wav')));
    const r = await checkInputs([folder, path.join(folder, 'a.wav')], tools);
    assert.deepEqual(r.map((c) => path.basename(c.file)), ['a.wav', 'b.wav', 'caf\\xe9.wav', 'zero.wav']);
    assert.equal(r[0]!.problem, null);
    assert.match(r[2]!.problem!.message, /caf\\xe9\.wav: the file name is not valid UTF-8 \(byte 0xe9\).* Rename it, e\.g\. mv -- \$'.*caf\\xe9\.wav' '.*caf_\.wav'$/);
    assert.match(r[3]!.problem!.message, /zero\.wav is a character device, not a file/);
    assert.ok((await stat(path.join(folder, 'a.wav'))).size > 0);
    await truncate(path.join(folder, 'b.wav'), 0);
    assert.match((await checkInputs([path.join(folder, 'b.wav')], tools))[0]!.problem!.message, /b\.wav is empty \(0 bytes\)/);
  });

  it('shows names that are not UTF-8 with their bytes escaped and the rest as it is', () => {
    assert.equal(escapeName(Buffer.concat([Buffer.from('Gespräch '), Buffer.from([0xff, 0xc3]), Buffer.from('日本.wav')])), 'Gespräch \\xff\\xc3日本.wav');
    assert.equal(escapeName(Buffer.from('plain.wav')), 'plain.wav');
  });
});
