// The merge and export activities on a realistic transcript: every file they write is pinned
// by its sha256, so a change in how they hold or stream a transcript cannot change a byte of
// merged.json or of any export (the hashes are those of the release that still built the whole
// transcript as objects and strings).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeMergeExportActivities } from '../../src/activities/merge-export';
import { EXPORT_FORMATS } from '../../src/domain/stages';
import type { ArtifactRef } from '../../src/domain/types';
import { createFsArtifactStore } from '../../src/providers/artifact-store';
import { writeExports } from '../../src/providers/output-files';
import { writeSpeakerNames } from '../../src/providers/speaker-names';
import { mockActivityEnv, testTmpDir } from '../helpers/temporal';

/** Words as providers send them: non-ASCII, markup of every format, punctuation tokens, padding, titles. */
const VOCABULARY = [
  'the', 'budget', 'for', 'next', 'quarter', 'and', 'we', 'will', 'review', 'it', 'with', 'everyone', 'in', 'Zürich',
  'café', 'naïve', 'São', 'Paulo', '東京', 'it’s', 'don’t', '🙂', 'R&D', '<laughs>', '*really*', '_maybe_', '[inaudible]',
  '#1', '>', '-->', 'a\\b', '"quoted"', 'Dr.', 'Mr.', 'Smith', '5%', 'well,', 'so;', 'yes:', 'Internationalization-and-localization-considerations',
  'SPEAKER_00', 'because', 'although', 'of', 'to', 'a', 'very', 'good', 'morning', 'question', 'answer', 'time', 'people',
];

/** A deterministic PRNG (LCG), so the input is the same on every machine. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
}

interface RawWord {
  word: string;
  start: number | null;
  end: number;
}

/**
 * About 6,000 words over an hour, shaped as assembleTranscript and diarizeAudio write them: chunk
 * offsets with float noise, three speakers with exclusive and overlapping turns, words in gaps
 * between turns and after the last one, long monologues, a few words out of order, empty, padded,
 * negative, reversed or without a start, a speaker with turns but no words, voice matches.
 */
function realisticInput() {
  const rnd = random(20261103);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const words: RawWord[] = [];
  const segments: { text: string; start: number; end: number }[] = [];
  const turns: { speaker: string; start: number; end: number }[] = [];
  const overlapping: { speaker: string; start: number; end: number }[] = [];
  const at = (x: number) => {
    const chunk = Math.floor(x / 600) * 600 + (x >= 600 ? 0.437 : 0);
    return chunk + Math.round((x - chunk) * 100) / 100;
  };
  let t = 0.3;
  for (let k = 0; t < 3540; k++) {
    const speaker = `SPEAKER_0${k % 5 === 4 ? 2 : k % 2}`;
    const from = t;
    const count = k % 17 === 0 ? 120 : 3 + Math.floor(rnd() * 30);
    const said: string[] = [];
    for (let i = 0; i < count; i++) {
      let word = pick(VOCABULARY);
      if (rnd() < 0.08) word += pick(['.', '?', ',', '!']);
      const d = 0.12 + rnd() * 0.35;
      const start = at(t);
      const end = at(t + d);
      const r = rnd();
      if (r < 0.01) words.push({ word: pick([',', '?!', '…', '.']), start: end, end });
      else if (r < 0.015) words.push({ word: pick(['', '   ', '\t']), start, end });
      else if (r < 0.02) words.push({ word: ` ${word} `, start, end });
      else if (r < 0.023) words.push({ word: 'New York', start, end });
      else if (r < 0.025) words.push({ word: 'two\nlines', start, end: start - 0.1 });
      words.push({ word, start, end });
      said.push(word);
      t += d + 0.02 + rnd() * 0.1 + (rnd() < 0.04 ? 1.3 : 0);
    }
    segments.push({ text: ` ${said.join(' ')}`, start: from, end: t });
    const turn = { speaker, start: Math.round((from - 0.05 + rnd() * 0.1) * 1000) / 1000, end: Math.round((t - rnd() * 0.3) * 1000) / 1000 };
    turns.push(turn);
    overlapping.push(k % 7 === 0 ? { ...turn, end: Math.round((turn.end + 0.6) * 1000) / 1000 } : turn);
    t += 0.2 + rnd() * (k % 9 === 0 ? 6 : 2);
  }
  // Speech after the last turn, and a speaker heard by diarization only.
  words.push({ word: 'bye.', start: at(t + 1), end: at(t + 1.4) });
  turns.push({ speaker: 'SPEAKER_03', start: 1.0, end: 1.2 });
  overlapping.push({ speaker: 'SPEAKER_03', start: 1.0, end: 1.2 });
  // Out of order, ties, a negative time and a missing one.
  for (let i = 100; i < words.length - 1; i += 397) [words[i], words[i + 1]] = [words[i + 1]!, words[i]!];
  words.splice(50, 0, { ...words[50]!, word: 'tie' });
  words.splice(10, 0, { word: 'before', start: -0.5, end: 0.1 }, { word: 'nowhen', start: null, end: 0.2 });
  turns.reverse();
  return {
    transcript: { language: 'english', duration: t + 2, text: segments.map((s) => s.text.trim()).join(' '), words, segments },
    diarization: {
      job_id: 'job-1',
      speakers: ['SPEAKER_00', 'SPEAKER_01', 'SPEAKER_02', 'SPEAKER_03'],
      turns,
      overlapping_turns: overlapping,
      matches: [
        { speaker: 'SPEAKER_00', match: 'Alice', score: 91 },
        { speaker: 'SPEAKER_01', match: null, score: 40 },
        { speaker: 'SPEAKER_02', match: 'Bob', score: 77 },
        { speaker: 'SPEAKER_03', match: 'Carol', score: 80 },
      ],
    },
  };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function hashes(refs: ArtifactRef[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const r of refs) {
    const bytes = await readFile(r.path);
    assert.equal(r.sha256, sha256(bytes), `${r.path}: the reference's sha256 is not the file's`);
    assert.equal(r.bytes, bytes.length);
    out[path.basename(r.path)] = r.sha256;
  }
  return out;
}

/** sha256 of every file, as written by the release that built the whole transcript in memory. */
const EXPECTED_MERGED = '0775e00d317a992c650c6605f16cc1780a1c3a399296ec462728daf9e375e22f';
const EXPECTED_DEFAULT_LAYOUT: Record<string, string> = {
  'meeting.json': '7752adf4aae4a802008e5468bf2c425a359610f18f833f3fbe6ef9d73a914d76',
  'meeting.srt': '1241ab92aa27ce56fc88e2a21a037017eaeda92b40635e43edc1106d6d9fdad7',
  'meeting.vtt': '71c63e5e71512e629ae1a8faa6038f692eda77b2f061854f68f3ae075a682ade',
  'meeting.txt': '03c1a73c1eea44ffecc2d2dffc018e773d9ed627becf787a49d6f94c75d0871d',
  'meeting.md': '534ad0a69056542058038255c7d6be769eacd632b847f78358d85a56458dd7c4',
  'meeting.rttm': 'ca6e5d2a58481178fad63dc7920d3b9174de2dc444857d4e742cc8f49906fa95',
  'meeting.docx': 'e02feed09e72fa0c61997c84bb4436608b2fded4faad404b5105270c0aa0b4fc',
};
const EXPECTED_CROWDED_SUBTITLES: Record<string, string> = {
  'meeting.srt': '1b8aa90ef5159c3622989f54f3e4f32e42efb1b2a4c9958d28e92aa33b17f5ee',
  'meeting.vtt': '4ac1110f993a114dfbc4d28a76f84107f732a972a21370e6c81ad6f86b6d914f',
};
const EXPECTED_NAMED_PREFIX_LAYOUT: Record<string, string> = {
  'meeting.json': '4b47440636b8e2ff3a2a0ae55b67e415f8eac8e568496c757308c28a8cf33cbd',
  'meeting.srt': '14360bb9a2c292a55bf697e8e490aa7a1d6cda5b20698bd2e26be1881e5c9846',
  'meeting.vtt': 'e863012d48c29997cf33e34ed00e0cac3785670ab23f96ba78be1154e1b2ce9f',
  'meeting.txt': 'd9af4048ab936059ca70ccc406a970aa1e20d4fd295947bd8dc24f3aead6a4f3',
  'meeting.md': '0efd24a2b993bb8055aba3818e78e9d8901081a68a704b8a113cc3ff3bd26dab',
  'meeting.rttm': '4fc86502500f141916c5f8cce99be40a3cd23995b0a11812ea19cecaae4790ae',
  'meeting.docx': '9aa7f1c5e29e6b4c4ede8f69d7f71a5fed044b353d05a8457566f4d7a0172e66',
};

describe('merge and export activities on a realistic transcript', function () {
  this.timeout(60_000);
  const store = createFsArtifactStore();
  const activities = makeMergeExportActivities({ store });
  let dir: string;
  let interimDir: string;
  let merged: ArtifactRef;

  before(async () => {
    dir = await testTmpDir('speech-merge-export-');
    interimDir = path.join(dir, 'interim');
    const input = realisticInput();
    const transcript = await store.writeJson(path.join(interimDir, 'transcript.json'), input.transcript, { compact: true });
    const diarization = await store.writeJson(path.join(interimDir, 'diarization.json'), input.diarization);
    merged = await mockActivityEnv().run(activities.mergeTranscript, { diarization, transcript, interimDir, source: 'Board meeting – Q3 "final".m4a' });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes merged.json as it always has', async () => {
    assert.equal(merged.sha256, sha256(await readFile(merged.path)));
    assert.deepEqual(merged.metadata, { utterances: merged.metadata?.utterances, speakers: 3 });
    assert.equal(merged.sha256, EXPECTED_MERGED);
  });

  it('writes every format as it always has, with the default layout', async () => {
    const refs = await mockActivityEnv().run(activities.exportTranscript, { merged, formats: [...EXPORT_FORMATS], outputDir: path.join(dir, 'out'), baseName: 'meeting' });
    assert.deepEqual(await hashes(refs), EXPECTED_DEFAULT_LAYOUT);
  });

  it('writes every format as it always has, with names given by the user and another layout', async () => {
    // SPEAKER_01 named like SPEAKER_00's voice: the two must stay apart in every export.
    await writeSpeakerNames(store, interimDir, { SPEAKER_01: 'Alice', SPEAKER_02: 'Robert [CFO]' });
    try {
      const render = { subtitles: { speakerLabels: 'prefix' as const, highlightWords: true, maxLineChars: 32, maxLines: 3, maxCueSeconds: 5 } };
      const refs = await mockActivityEnv().run(activities.exportTranscript, { merged, formats: [...EXPORT_FORMATS], outputDir: path.join(dir, 'named'), baseName: 'meeting', render });
      assert.deepEqual(await hashes(refs), EXPECTED_NAMED_PREFIX_LAYOUT);
    } finally {
      await rm(path.join(interimDir, 'speaker-names.json'), { force: true });
    }
  });

  it('writes subtitles as it always has where short cues are merged and pushed against each other', async () => {
    // Cues that must stay on screen long and may hold little: many are extended, merged or kept short.
    const render = { subtitles: { speakerLabels: 'none' as const, minCueSeconds: 2.5, maxCueSeconds: 3, maxCharsPerSecond: 12, maxLineChars: 20 } };
    const refs = await mockActivityEnv().run(activities.exportTranscript, { merged, formats: ['srt', 'vtt'], outputDir: path.join(dir, 'crowded'), baseName: 'meeting', render });
    assert.deepEqual(await hashes(refs), EXPECTED_CROWDED_SUBTITLES);
  });

  it('renders the same files from a merged.json of an earlier release (pretty-printed)', async () => {
    const earlier = path.join(dir, 'earlier');
    await mkdir(earlier, { recursive: true });
    const file = path.join(earlier, 'merged.json');
    await writeFile(file, `${JSON.stringify(JSON.parse(await readFile(merged.path, 'utf8')), null, 2)}\n`);
    const refs = await writeExports(store, { merged: await store.describe(file), formats: [...EXPORT_FORMATS], outDir: path.join(dir, 'from-earlier'), baseName: 'meeting', overwrite: false });
    assert.deepEqual(await hashes(refs), EXPECTED_DEFAULT_LAYOUT);
  });
});
