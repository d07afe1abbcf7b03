import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXPORT_FORMATS } from '../../../src/domain/stages';
import {
  FORMAT_EXTENSIONS,
  renderFormat,
  renderJson,
  renderMarkdown,
  renderRttm,
  renderSrt,
  renderTxt,
  renderVtt,
  rttmFileId,
  type TextFormat,
} from '../../../src/domain/formats';
import { splitUtterance } from '../../../src/domain/formats/cues';
import type { MergedTranscript, Utterance } from '../../../src/domain/types';
import { fixtureTranscript } from './fixture';

const fixturesDir = join(__dirname, '..', '..', 'fixtures', 'exports');

function expected(extension: string): string {
  return readFileSync(join(fixturesDir, `expected.${extension}`), 'utf8');
}

const empty: MergedTranscript = { source: 'empty.wav', duration: 0, language: null, speakers: [], utterances: [] };

function single(speaker: string, text: string, start: number, end: number): MergedTranscript {
  const u: Utterance = { speaker, start, end, text, words: [{ word: text, start, end, speaker }] };
  return { source: 'x.wav', duration: end, language: null, speakers: [speaker], utterances: [u] };
}

describe('export formats', () => {
  describe('match the hand-written fixtures', () => {
    for (const format of EXPORT_FORMATS.filter((f): f is TextFormat => f !== 'docx')) {
      it(format, () => {
        assert.equal(renderFormat(format, fixtureTranscript), expected(FORMAT_EXTENSIONS[format]));
      });
    }
  });

  it('maps every format to its extension', () => {
    assert.deepEqual(FORMAT_EXTENSIONS, { json: 'json', srt: 'srt', vtt: 'vtt', txt: 'txt', md: 'md', rttm: 'rttm', docx: 'docx' });
  });

  it('dispatches each format to its renderer', () => {
    assert.equal(renderFormat('json', fixtureTranscript), renderJson(fixtureTranscript));
    assert.equal(renderFormat('srt', fixtureTranscript), renderSrt(fixtureTranscript));
    assert.equal(renderFormat('vtt', fixtureTranscript), renderVtt(fixtureTranscript));
    assert.equal(renderFormat('txt', fixtureTranscript), renderTxt(fixtureTranscript));
    assert.equal(renderFormat('md', fixtureTranscript), renderMarkdown(fixtureTranscript));
    assert.equal(renderFormat('rttm', fixtureTranscript), renderRttm(fixtureTranscript));
  });

  it('renders an empty transcript as valid, empty documents', () => {
    assert.equal(renderSrt(empty), '');
    assert.equal(renderVtt(empty), 'WEBVTT\n');
    assert.equal(renderTxt(empty), '');
    assert.equal(renderRttm(empty), '');
    assert.equal(renderMarkdown(empty), '# Transcript: empty.wav\n\nDuration: 00:00:00 · Speakers: none\n');
    assert.deepEqual(JSON.parse(renderJson(empty)), { format_version: 1, ...empty });
  });

  describe('json', () => {
    it('reads back as the merged transcript plus its version', () => {
      const { format_version, ...rest } = JSON.parse(renderJson(fixtureTranscript)) as Record<string, unknown>;
      assert.equal(format_version, 1);
      const roundedFixture = JSON.parse(JSON.stringify(fixtureTranscript).replaceAll('3727.2496', '3727.25')) as unknown;
      assert.deepEqual(rest, roundedFixture);
    });
  });

  describe('srt and vtt cues', () => {
    it('keep a single overlong word as one cue', () => {
      const srt = renderSrt(single('A', 'x'.repeat(100), 0, 9));
      assert.equal(srt, `1\n00:00:00,000 --> 00:00:09,000\nA: ${'x'.repeat(100)}\n`);
    });

    it('split an utterance only at word boundaries, at punctuation, and keep every word', () => {
      const u = fixtureTranscript.utterances[2]!;
      const cues = splitUtterance(u);
      assert.deepEqual(
        cues.map((c) => c.lines),
        [['So the plan for next quarter is simple:'], ['we ship the new pipeline,'], ['measure it carefully, and then decide.']],
      );
      assert.equal(cues.flatMap((c) => c.lineWords.flat().map((w) => w.text)).join(' '), u.text);
      for (const c of cues) assert.ok(c.end - c.start <= 7 && c.lines.length <= 2 && c.lines.every((l) => l.length <= 42));
    });

    it('show the SRT speaker name only on the first cue after a change', () => {
      const names = renderSrt(fixtureTranscript)
        .split('\n')
        .filter((line) => /^SPEAKER_\d\d: /.test(line))
        .map((line) => line.slice(0, 10));
      assert.deepEqual(names, ['SPEAKER_00', 'SPEAKER_01', 'SPEAKER_00', 'SPEAKER_01', 'SPEAKER_00']);
    });

    it('keep cue text on one line', () => {
      const m = single('A', 'two\nlines', 1, 2);
      assert.equal(renderSrt(m), '1\n00:00:01,000 --> 00:00:02,000\nA: two lines\n');
      assert.equal(renderVtt(m), 'WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v A>two lines\n');
    });

    it('escape the voice name in VTT', () => {
      assert.match(renderVtt(single('Tom & <Jerry>', 'hi', 0, 1)), /<v Tom &amp; &lt;Jerry&gt;>hi\n/);
    });
  });

  describe('markdown', () => {
    it('escapes markup in text but not underscores inside words', () => {
      const md = renderMarkdown(single('SPEAKER_00', '# *bold* _x_ [link](y) a_b', 0, 1));
      assert.ok(md.includes('**SPEAKER_00** _[00:00:00 – 00:00:01]_\\\n\\# \\*bold\\* \\_x\\_ \\[link\\](y) a_b\n'), md);
    });
  });

  describe('rttm', () => {
    it('writes start and duration, not end', () => {
      const line = renderRttm(single('A', 'hi', 3725.5, 3730.25));
      assert.equal(line, 'SPEAKER x 1 3725.500 4.750 <NA> <NA> A <NA> <NA>\n');
    });

    it('derives the duration from rounded times so start + duration is the rounded end', () => {
      // 1.0004 → 1.000 and 2.0006 → 2.001; a duration rounded on its own would be 1.000.
      assert.equal(renderRttm(single('A', 'hi', 1.0004, 2.0006)), 'SPEAKER x 1 1.000 1.001 <NA> <NA> A <NA> <NA>\n');
    });

    it('replaces whitespace in the file id and speaker labels', () => {
      const m = { ...single('Dr  Who', 'hi', 0, 1), source: 'rec/My\tTalk  v2.final.wav' };
      assert.equal(renderRttm(m), 'SPEAKER My_Talk_v2.final 1 0.000 1.000 <NA> <NA> Dr_Who <NA> <NA>\n');
      assert.equal(rttmFileId(''), 'audio');
      assert.equal(rttmFileId('.wav'), '.wav');
    });
  });
});
