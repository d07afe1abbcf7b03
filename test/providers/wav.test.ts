// WAV header reading and byte-range cutting on files real ffmpeg wrote: the chunk a
// transcription request carries must be whole sample frames with a header that says so.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { byteRangeFor, hashWavFindingSilences, readWavInfo, wavHeader } from '../../src/providers/wav';
import { makeTwoSpeakerRecording } from '../helpers/audio';
import { testTmpDir } from '../helpers/temporal';

function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

function ffprobe(file: string): { sample_rate: string; channels: number; bits_per_sample: number; duration_ts: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=sample_rate,channels,bits_per_sample,duration_ts', '-of', 'json', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffprobe ${file}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { streams: ReturnType<typeof ffprobe>[] }).streams[0]!;
}

describe('wav.ts on ffmpeg-made WAV files', () => {
  let dir: string;
  let mono: string;
  let stereo24: string;

  before(async () => {
    dir = await testTmpDir('speech-wav-');
    mono = path.join(dir, 'mono16k.wav');
    // 2.5 s of a sweep, so every sample differs from its neighbours; ffmpeg adds a LIST chunk before data.
    ffmpeg(['-f', 'lavfi', '-i', "aevalsrc='sin(2*PI*(200+400*t)*t)':s=16000:d=2.5", '-ac', '1', '-c:a', 'pcm_s16le', mono]);
    stereo24 = path.join(dir, 'stereo24.wav');
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=44100:duration=1.5', '-ac', '2', '-c:a', 'pcm_s24le', stereo24]);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads format, data offset and duration of a 16 kHz mono file', async () => {
    const info = await readWavInfo(mono);
    const bytes = await readFile(mono);
    const dataAt = bytes.indexOf('data', 12, 'ascii');
    assert.equal(info.sampleRate, 16000);
    assert.equal(info.channels, 1);
    assert.equal(info.bitsPerSample, 16);
    assert.equal(info.bytesPerSecond, 32000);
    assert.equal(info.dataOffset, dataAt + 8);
    assert.ok(info.dataOffset > 44, 'ffmpeg writes a LIST chunk, so data is not at 44');
    assert.equal(info.dataBytes, 2.5 * 32000);
    assert.equal(info.declaredDataBytes, info.dataBytes);
    assert.equal(info.durationSeconds, 2.5);
  });

  it('reads a 24-bit stereo WAVE_FORMAT_EXTENSIBLE file', async () => {
    const info = await readWavInfo(stereo24);
    assert.equal(info.sampleRate, 44100);
    assert.equal(info.channels, 2);
    assert.equal(info.bitsPerSample, 24);
    assert.equal(info.bytesPerSecond, 44100 * 6);
    assert.equal(info.dataBytes, 1.5 * 44100 * 6);
    assert.ok(Math.abs(info.durationSeconds - 1.5) < 1e-9);
  });

  it('takes the file size as the truth when ffmpeg streamed the WAV to a pipe', async () => {
    const piped = path.join(dir, 'piped.wav');
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', mono, '-c:a', 'pcm_s16le', '-f', 'wav', '-'], { maxBuffer: 1 << 24 });
    assert.equal(r.status, 0, String(r.stderr));
    await writeFile(piped, r.stdout);
    const info = await readWavInfo(piped);
    assert.equal(info.declaredDataBytes, null);
    assert.equal(info.dataBytes, (await stat(piped)).size - info.dataOffset);
    assert.equal(info.durationSeconds, 2.5);
  });

  it('notices a truncated file: the header claims more data than there is', async () => {
    const whole = await readFile(mono);
    const cut = path.join(dir, 'cut.wav');
    await writeFile(cut, whole.subarray(0, whole.length - 16000));
    const info = await readWavInfo(cut);
    assert.equal(info.declaredDataBytes, 80000);
    assert.equal(info.dataBytes, 80000 - 16000);
    assert.equal(info.durationSeconds, 2);
  });

  it('refuses a file that is not RIFF/WAVE', async () => {
    const notWav = path.join(dir, 'notes.wav');
    await writeFile(notWav, 'meeting notes, not audio');
    await assert.rejects(readWavInfo(notWav), /not a RIFF\/WAVE file/);
  });

  it('writes the same canonical 44-byte header as ffmpeg does for plain PCM', async () => {
    for (const [rate, channels] of [
      [16000, 1],
      [44100, 2],
    ] as const) {
      const file = path.join(dir, `bitexact-${rate}-${channels}.wav`);
      ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-map_metadata', '-1', '-fflags', '+bitexact', '-flags:a', '+bitexact', '-ar', String(rate), '-ac', String(channels), '-c:a', 'pcm_s16le', file]);
      const info = await readWavInfo(file);
      assert.equal(info.dataOffset, 44);
      const theirs = (await readFile(file)).subarray(0, 44);
      assert.deepEqual(wavHeader(info, info.dataBytes), theirs, `${rate} Hz × ${channels}`);
    }
    // RIFF sizes are 32-bit: data that large cannot be described, so it is refused.
    assert.throws(() => wavHeader({ sampleRate: 16000, channels: 1, bitsPerSample: 16 }, 0xffffffff - 35), RangeError);
    assert.equal(wavHeader({ sampleRate: 16000, channels: 1, bitsPerSample: 16 }, 0xffffffff - 36).readUInt32LE(4), 0xffffffff);
  });

  it('cuts byte ranges on whole sample frames, clamped to the data', async () => {
    for (const file of [mono, stereo24]) {
      const info = await readWavInfo(file);
      const frame = info.channels * (info.bitsPerSample / 8);
      for (const [a, b] of [
        [0, 1],
        [0.5, 1.25],
        [0.123456, 0.987654],
        [1 / 3, 2 / 3],
      ] as const) {
        const r = byteRangeFor(info, a, b);
        assert.equal((r.startByte - info.dataOffset) % frame, 0, `${path.basename(file)} start ${a}`);
        assert.equal((r.endByte - info.dataOffset) % frame, 0, `${path.basename(file)} end ${b}`);
        assert.equal(r.startByte, info.dataOffset + Math.round(a * info.sampleRate) * frame);
        assert.equal(r.endByte, info.dataOffset + Math.round(b * info.sampleRate) * frame);
      }
      assert.deepEqual(byteRangeFor(info, -1, 99), { startByte: info.dataOffset, endByte: info.dataOffset + info.dataBytes });
    }
  });

  it('a new header plus a byte range is a valid WAV of exactly that audio (header round trip)', async () => {
    for (const file of [mono, stereo24]) {
      const info = await readWavInfo(file);
      const whole = await readFile(file);
      const range = byteRangeFor(info, 0.5, 1.25);
      const pcm = whole.subarray(range.startByte, range.endByte);
      const header = wavHeader(info, pcm.length);
      assert.equal(header.length, 44);
      const out = path.join(dir, `slice-${path.basename(file)}`);
      await writeFile(out, Buffer.concat([header, pcm]));

      const back = await readWavInfo(out);
      assert.equal(back.sampleRate, info.sampleRate);
      assert.equal(back.channels, info.channels);
      assert.equal(back.bitsPerSample, info.bitsPerSample);
      assert.equal(back.dataOffset, 44);
      assert.equal(back.dataBytes, pcm.length);
      assert.equal(back.declaredDataBytes, pcm.length);
      assert.ok(Math.abs(back.durationSeconds - 0.75) < 1e-9, `duration ${back.durationSeconds}`);

      // ffmpeg reads it too, as exactly 0.75 s at the source's format.
      const probed = ffprobe(out);
      assert.equal(Number(probed.sample_rate), info.sampleRate);
      assert.equal(probed.channels, info.channels);
      assert.equal(probed.bits_per_sample, info.bitsPerSample);
      assert.equal(Number(probed.duration_ts), 0.75 * info.sampleRate);
      // And decodes the same samples that sit at 0.5 s in the source.
      const decoded = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', out, '-f', info.bitsPerSample === 16 ? 's16le' : 's24le', '-'], { maxBuffer: 1 << 24 });
      assert.equal(decoded.status, 0, String(decoded.stderr));
      assert.ok(Buffer.compare(decoded.stdout, pcm) === 0, `${path.basename(file)}: decoded samples differ from the source range`);
    }
  });

  it('hashes a WAV and finds the silences ffmpeg silencedetect finds, in one read', async () => {
    // Real speech with pauses, converted by ffmpeg the way the pipeline converts (LIST chunk included).
    const rec = await makeTwoSpeakerRecording({ dir, name: 'speech' });
    const wav = path.join(dir, 'speech16k.wav');
    ffmpeg(['-i', rec.path, '-ac', '1', '-ar', '16000', '-c:a', 'pcm_s16le', wav]);
    const pass = await hashWavFindingSilences(wav, { noiseDb: -35, minSeconds: 0.3 });
    const bytes = await readFile(wav);
    assert.equal(pass.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(pass.bytes, bytes.length);
    assert.equal(pass.info.durationSeconds, (await readWavInfo(wav)).durationSeconds);

    const r = spawnSync('ffmpeg', ['-hide_banner', '-nostats', '-i', wav, '-af', 'silencedetect=noise=-35dB:d=0.3', '-f', 'null', '-'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const starts = [...r.stderr.matchAll(/silence_start: (-?[\d.]+)/g)].map((m) => Math.max(0, Number(m[1])));
    const ends = [...r.stderr.matchAll(/silence_end: ([\d.]+)/g)].map((m) => Number(m[1]));
    assert.ok(starts.length >= rec.turns.length, `ffmpeg found ${starts.length} silences`);
    assert.equal(pass.silences.length, starts.length);
    pass.silences.forEach((s, i) => {
      // ffmpeg prints six significant digits.
      assert.ok(Math.abs(s.start - starts[i]!) < 1e-3, `start ${s.start} vs ${starts[i]}`);
      assert.ok(Math.abs(s.end - (ends[i] ?? pass.info.durationSeconds)) < 1e-3, `end ${s.end} vs ${ends[i]}`);
    });
    // Each pause between turns lies inside one silence.
    for (let k = 1; k < rec.turns.length; k++) {
      const gap = { start: rec.turns[k - 1]!.end, end: rec.turns[k]!.start };
      assert.ok(pass.silences.some((s) => s.start <= gap.start + 0.3 && s.end >= gap.end - 0.3), `pause ${gap.start}–${gap.end}`);
    }
  });

  it('refuses to search other than 16-bit mono PCM for silences', async () => {
    await assert.rejects(hashWavFindingSilences(stereo24, { noiseDb: -35, minSeconds: 0.3 }), /2-channel 24-bit audio/);
  });
});
