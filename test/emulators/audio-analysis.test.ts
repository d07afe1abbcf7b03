/**
 * The analysis behind the emulators: decoding paths (direct WAV parsing, ffmpeg),
 * speech regions, word units and pitch clustering on real espeak-ng speech.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnalysisPool, OFF_THREAD_BYTES } from './analysis-pool';
import { DecodeError, analyzeAudio, clusterSpeakers, speechRegions, words } from './audio-analysis';
import { type Recording, makeLongRecording, makeTone, makeTwoSpeakerRecording, readWav, run, transcode, wavHeader } from '../helpers/audio';

describe('audio analysis', function () {
  let dir: string;
  let rec: Recording;

  before(async function () {
    dir = await fsp.mkdtemp(join(tmpdir(), 'analysis-test-'));
    rec = await makeTwoSpeakerRecording({ dir });
  });
  after(async function () {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('finds one speech region per turn, at the constructed times', async function () {
    const a = await analyzeAudio(rec.path);
    assert.equal(a.decoder, 'wav');
    assert.ok(Math.abs(a.duration - rec.duration) < 1e-6);
    const regions = speechRegions(a);
    for (const t of rec.turns) {
      const inside = regions.filter((r) => r.end > t.start && r.start < t.end);
      assert.ok(inside.length >= 1, `no region for turn at ${t.start}`);
      assert.ok(Math.abs(inside[0]!.start - t.start) < 0.05, `start ${inside[0]!.start} vs ${t.start}`);
      assert.ok(Math.abs(inside[inside.length - 1]!.end - t.end) < 0.05, `end ${inside[inside.length - 1]!.end} vs ${t.end}`);
    }
    // No speech is found in the silences between turns.
    for (const r of regions) assert.ok(rec.turns.some((t) => r.start >= t.start - 0.05 && r.end <= t.end + 0.05));
  });

  it('separates the low and the high voice into two speakers, in order of appearance', async function () {
    const a = await analyzeAudio(rec.path);
    const speakers = clusterSpeakers(speechRegions(a));
    const labelOf = (t: (typeof rec.turns)[number]) => speakers.find((r) => r.start < t.end && r.end > t.start)!.speaker;
    assert.deepEqual(rec.turns.map(labelOf), ['SPEAKER_00', 'SPEAKER_01', 'SPEAKER_00', 'SPEAKER_01']);
    const pitchA = speakers.find((r) => r.speaker === 'SPEAKER_00')!.pitch!;
    const pitchB = speakers.find((r) => r.speaker === 'SPEAKER_01')!.pitch!;
    assert.ok(pitchA > 60 && pitchA < 130, `A pitch ${pitchA}`);
    assert.ok(pitchB > 170 && pitchB < 400, `B pitch ${pitchB}`);
  });

  it('respects speaker-count hints', async function () {
    const regions = speechRegions(await analyzeAudio(rec.path));
    assert.equal(new Set(clusterSpeakers(regions, { numSpeakers: 1 }).map((r) => r.speaker)).size, 1);
    assert.equal(new Set(clusterSpeakers(regions, { maxSpeakers: 1 }).map((r) => r.speaker)).size, 1);
    assert.equal(new Set(clusterSpeakers(regions, { minSpeakers: 3 }).map((r) => r.speaker)).size, 3);
  });

  it('cuts turns into word-like units at the word gaps', async function () {
    const a = await analyzeAudio(rec.path);
    const units = words(a);
    for (const t of rec.turns) {
      const inTurn = units.filter((u) => u.start < t.end && u.end > t.start);
      const expected = t.text.split(/\s+/).length;
      assert.ok(inTurn.length >= expected * 0.6 && inTurn.length <= expected * 1.4, `${inTurn.length} units for ${expected} words`);
      for (const u of inTurn) assert.ok(u.start >= t.start - 0.05 && u.end <= t.end + 0.05);
    }
  });

  it('decodes the same speech through ffmpeg from mp3, ogg and flac', async function () {
    const reference = speechRegions(await analyzeAudio(rec.path));
    for (const ext of ['mp3', 'ogg', 'flac']) {
      const out = await transcode(rec.path, join(dir, `speech.${ext}`));
      const a = await analyzeAudio(await fsp.readFile(out));
      assert.equal(a.decoder, 'ffmpeg');
      assert.equal(a.sampleRate, 16000);
      assert.ok(Math.abs(a.duration - rec.duration) < 0.1, `${ext} duration ${a.duration}`);
      const regions = speechRegions(a);
      assert.equal(regions.length, reference.length, ext);
      regions.forEach((r, i) => assert.ok(Math.abs(r.start - reference[i]!.start) < 0.06, `${ext} region ${i}`));
    }
  });

  it('parses stereo 44.1 kHz WAV with extra chunks and streaming size placeholders', async function () {
    const stereo = join(dir, 'stereo.wav');
    await run('sox', [rec.path, '-r', '44100', '-c', '2', stereo]);
    const pcm = await readWav(stereo);
    // A LIST chunk before the data and 0xFFFFFFFF sizes, as ffmpeg writes to a pipe.
    const header = wavHeader(44100, 2, 0);
    header.writeUInt32LE(0xffffffff, 4);
    header.writeUInt32LE(0xffffffff, 40);
    const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([5, 0, 0, 0]), Buffer.from('INFOx\0')]);
    const odd = Buffer.concat([header.subarray(0, 36), list, header.subarray(36), pcm.data]);
    const path = join(dir, 'odd.wav');
    await fsp.writeFile(path, odd);
    for (const input of [path, odd]) {
      const a = await analyzeAudio(input);
      assert.equal(a.decoder, 'wav');
      assert.equal(a.sampleRate, 44100);
      assert.ok(Math.abs(a.duration - rec.duration) < 0.01);
      assert.equal(speechRegions(a).length >= rec.turns.length, true);
    }
  });

  it('finds no speech in a steady tone and throws DecodeError for garbage', async function () {
    const tone = await makeTone({ dir, seconds: 2, name: 'tone' });
    assert.deepEqual(speechRegions(await analyzeAudio(tone.path)), []);
    await assert.rejects(analyzeAudio(Buffer.from('this is not audio at all'.repeat(100))), DecodeError);
    const bad = join(dir, 'bad.mp3');
    await fsp.writeFile(bad, Buffer.alloc(5000, 7));
    await assert.rejects(analyzeAudio(bad), DecodeError);
  });

  it('analyses ten minutes of audio from disk in well under a few seconds', async function () {
    const long = await makeLongRecording({ dir, seconds: 600, name: 'ten-minutes' });
    const t0 = Date.now();
    const a = await analyzeAudio(long.path);
    const regions = clusterSpeakers(speechRegions(a));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    assert.equal(new Set(regions.map((r) => r.speaker)).size, 2);
    // Every turn is found, and nothing outside the turns is taken for speech.
    let next = 0;
    for (const t of long.turns) {
      while (next < regions.length && regions[next]!.end <= t.start) next++;
      assert.ok(next < regions.length && regions[next]!.start < t.end, `turn at ${t.start} not found`);
    }
    for (const r of regions) assert.ok(long.turns.some((t) => r.start >= t.start - 0.05 && r.end <= t.end + 0.05), `region ${r.start}-${r.end} outside turns`);
  });

  it('gives the same analysis in the worker-thread pool as on the calling thread', async function () {
    const long = await makeLongRecording({ dir, seconds: 120, name: 'two-minutes' });
    const body = await fsp.readFile(long.path);
    assert.ok(body.length >= OFF_THREAD_BYTES, 'large enough to go to the pool');
    const pool = new AnalysisPool(2);
    try {
      const direct = await analyzeAudio(body, { pitchHopSeconds: 0.05 });
      // Three at once over two workers; the caller's buffer stays usable.
      const pooled = await Promise.all([0, 1, 2].map(() => pool.analyze(body, { pitchHopSeconds: 0.05 })));
      for (const p of pooled) assert.deepEqual(p, direct);
      assert.equal(body.subarray(0, 4).toString('latin1'), 'RIFF');
      const garbage = Buffer.alloc(OFF_THREAD_BYTES + 10, 7);
      await assert.rejects(pool.analyze(garbage), DecodeError);
      // Small bodies stay on the calling thread and get the same answers.
      const small = await fsp.readFile(rec.path);
      assert.deepEqual(await pool.analyze(small), await analyzeAudio(small));
    } finally {
      await pool.close();
    }
  });
});
