// Every SRT and WebVTT file we write must read back in a real player stack: ffmpeg
// (ffprobe) reads it and finds the same cues at the same times.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { transcriptCues } from '../../../src/domain/formats/cues';
import { DEFAULT_SUBTITLE_OPTIONS, SPEAKER_LABEL_STYLES, type SubtitleOptions } from '../../../src/domain/formats/options';
import { renderSrt } from '../../../src/domain/formats/srt';
import { renderVtt } from '../../../src/domain/formats/vtt';
import { joinWords } from '../../../src/domain/merge';
import type { AttributedWord, MergedTranscript, Utterance } from '../../../src/domain/types';
import { fixtureTranscript } from './fixture';

type Format = 'srt' | 'vtt';

describe('subtitles read back by ffmpeg', function () {
  this.timeout(120_000);
  let dir: string;
  let files = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'speech-subtitles-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Start and end (whole milliseconds) of every cue ffprobe reads from the file. */
  function probe(format: Format, text: string): [number, number][] {
    const file = join(dir, `${files++}.${format}`);
    writeFileSync(file, text);
    const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', file], {
      encoding: 'utf8',
    });
    return out
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const [pts, duration] = line.split(',').map(Number);
        const start = Math.round((pts ?? NaN) * 1000);
        return [start, start + Math.round((duration ?? NaN) * 1000)];
      });
  }

  function assertReadBack(m: MergedTranscript, o: SubtitleOptions): void {
    const srtCues = transcriptCues(m, { ...o, speakerLabels: o.speakerLabels === 'none' ? 'none' : 'prefix' });
    const vttCues = transcriptCues(m, o);
    for (const [format, text, cues] of [
      ['srt', renderSrt(m, o), srtCues],
      ['vtt', renderVtt(m, o), vttCues],
    ] as const) {
      const expected = cues.map((c): [number, number] => [Math.round(c.start * 1000), Math.round(c.end * 1000)]);
      assert.deepEqual(probe(format, text), expected, `${format} read back differently:\n${text}`);
    }
  }

  for (const speakerLabels of SPEAKER_LABEL_STYLES) {
    for (const highlightWords of [false, true]) {
      it(`reads the fixture with speaker labels '${speakerLabels}'${highlightWords ? ' and word highlights' : ''}`, () => {
        assertReadBack(fixtureTranscript, { ...DEFAULT_SUBTITLE_OPTIONS, speakerLabels, highlightWords });
      });
    }
  }

  it('reads random transcripts with random layouts, including text that looks like subtitle syntax', () => {
    const wordArb = fc.oneof(
      { weight: 10, arbitrary: fc.stringMatching(/^[a-z]{1,10}[,.?]?$/) },
      {
        weight: 3,
        arbitrary: fc.constantFrom('-->', 'a-->b', '<i>', '&amp;', '42', '00:00:01,000', 'WEBVTT', 'NOTE', '{\\an8}', '</v>', ','),
      },
      { weight: 1, arbitrary: fc.stringMatching(/^[a-z]{45,60}$/) },
    );
    const utteranceArb = fc.record({
      speaker: fc.constantFrom('A', 'B', 'Dr. <Who>'),
      pause: fc.integer({ min: 0, max: 3000 }),
      words: fc.array(fc.record({ word: wordArb, gap: fc.integer({ min: 0, max: 600 }), duration: fc.integer({ min: 0, max: 1500 }) }), {
        minLength: 1,
        maxLength: 30,
      }),
    });
    const transcriptArb = fc.array(utteranceArb, { minLength: 1, maxLength: 6 }).map((utterances): MergedTranscript => {
      let clock = 0;
      const built: Utterance[] = utterances.map((u) => {
        clock += u.pause;
        const words: AttributedWord[] = u.words.map((w) => {
          clock += w.gap;
          const word = { word: w.word, start: clock / 1000, end: (clock + w.duration) / 1000, speaker: u.speaker };
          clock += w.duration;
          return word;
        });
        return { speaker: u.speaker, start: words[0]!.start, end: clock / 1000, text: joinWords(words.map((w) => w.word)), words };
      });
      return { source: 'random.wav', duration: clock / 1000 + 1, language: null, speakers: [], utterances: built };
    });
    const optionsArb = fc.record({
      maxLineChars: fc.integer({ min: 10, max: 50 }),
      maxLines: fc.integer({ min: 1, max: 3 }),
      maxCueSeconds: fc.integer({ min: 2, max: 8 }),
      minCueSeconds: fc.constantFrom(0.5, 1, 1.5),
      maxCharsPerSecond: fc.integer({ min: 12, max: 22 }),
      speakerLabels: fc.constantFrom(...SPEAKER_LABEL_STYLES),
      highlightWords: fc.boolean(),
    });
    fc.assert(
      fc.property(transcriptArb, optionsArb, (m, o) => assertReadBack(m, o)),
      { numRuns: 25 },
    );
  });
});
