// Subtitle layout (SRT, WebVTT): readable examples of each rule, then property
// checks of every rule over random transcripts and random options.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MIN_CUE_GAP_SECONDS, transcriptCues, type Cue } from '../../../src/domain/formats/cues';
import { DEFAULT_SUBTITLE_OPTIONS, SPEAKER_LABEL_STYLES, type SubtitleOptions } from '../../../src/domain/formats/options';
import { renderSrt } from '../../../src/domain/formats/srt';
import { escapeVtt, renderVtt } from '../../../src/domain/formats/vtt';
import { joinWords } from '../../../src/domain/merge';
import { parseTimecode, toMilliseconds } from '../../../src/domain/timecode';
import type { AttributedWord, MergedTranscript, Utterance } from '../../../src/domain/types';

const D = DEFAULT_SUBTITLE_OPTIONS;

function options(overrides: Partial<SubtitleOptions>): SubtitleOptions {
  return { ...D, ...overrides };
}

/** An utterance whose words follow each other from `start`, each `wordSeconds` long with `gapSeconds` between. */
function said(speaker: string, start: number, text: string, wordSeconds = 0.3, gapSeconds = 0.05): Utterance {
  const words: AttributedWord[] = text.split(' ').map((word, i) => {
    const from = Math.round((start + i * (wordSeconds + gapSeconds)) * 1000) / 1000;
    return { word, start: from, end: Math.round((from + wordSeconds) * 1000) / 1000, speaker };
  });
  return { speaker, start, end: words[words.length - 1]?.end ?? start, text: joinWords(words.map((w) => w.word)), words };
}

function transcript(...utterances: Utterance[]): MergedTranscript {
  const end = Math.max(0, ...utterances.map((u) => u.end));
  return { source: 'x.wav', duration: end + 10, language: 'en', speakers: [...new Set(utterances.map((u) => u.speaker))], utterances };
}

function texts(cues: Cue[]): string[][] {
  return cues.map((c) => c.lines);
}

describe('subtitles', () => {
  describe('examples', () => {
    it('keep a short utterance on one line and break a longer one into two balanced lines at a phrase', () => {
      const m = transcript(said('A', 0, 'I think the budget for next year is far too small to cover everything'));
      assert.deepEqual(texts(transcriptCues(m)), [['I think the budget for next year is', 'far too small to cover everything']]);
      const short = transcript(said('A', 0, 'Good morning, everyone.'));
      assert.deepEqual(texts(transcriptCues(short)), [['Good morning, everyone.']]);
    });

    it('break a line after a comma rather than in the middle of a phrase', () => {
      const m = transcript(said('A', 0, 'When the numbers came in, we were all surprised by them'));
      assert.deepEqual(texts(transcriptCues(m)), [['When the numbers came in,', 'we were all surprised by them']]);
    });

    it('end a cue at a sentence end rather than fill it up', () => {
      const m = transcript(
        said('A', 0, 'We looked at the results last week. They were better than any of us expected, honestly.', 0.25, 0.05),
      );
      assert.deepEqual(texts(transcriptCues(m)), [
        ['We looked at the results last week.'],
        ['They were better than any', 'of us expected, honestly.'],
      ]);
    });

    it('split a cue that would stay on screen longer than maxCueSeconds', () => {
      const m = transcript(said('A', 0, 'one two three four five six seven eight nine ten eleven twelve', 0.9, 0.1));
      const cues = transcriptCues(m);
      assert.deepEqual(texts(cues), [['one two three four five six seven'], ['eight nine ten eleven twelve']]);
      assert.deepEqual(
        cues.map((c) => [c.start, c.end]),
        [
          [0, 6.9],
          [7, 11.9],
        ],
      );
    });

    it('show the SRT speaker prefix only where the speaker changes, counted in the line width', () => {
      const m = transcript(
        said('Ann', 0, 'So we agreed on the plan. Then we went back over every single detail of the schedule again.'),
        said('Ann', 40, 'Right.'),
        said('Bob', 45, 'Yes, exactly.'),
      );
      assert.equal(
        renderSrt(m),
        [
          '1\n00:00:00,000 --> 00:00:02,050\nAnn: So we agreed on the plan.\n',
          '2\n00:00:02,100 --> 00:00:06,250\nThen we went back over every single\ndetail of the schedule again.\n',
          '3\n00:00:40,000 --> 00:00:41,000\nRight.\n',
          '4\n00:00:45,000 --> 00:00:46,000\nBob: Yes, exactly.\n',
        ].join('\n'),
      );
    });

    it('give every WebVTT cue its voice tag, or a prefix at changes, or nothing', () => {
      const m = transcript(said('Ann', 0, 'Hello there.'), said('Ann', 5, 'Again.'), said('Bob <2>', 10, 'Hi & bye.'));
      const times = ['00:00:00.000 --> 00:00:01.000', '00:00:05.000 --> 00:00:06.000', '00:00:10.000 --> 00:00:11.000'];
      const vtt = (lines: string[]) => ['WEBVTT\n', ...lines.map((l, i) => `${times[i]}\n${l}\n`)].join('\n');
      assert.equal(renderVtt(m), vtt(['<v Ann>Hello there.', '<v Ann>Again.', '<v Bob &lt;2&gt;>Hi &amp; bye.']));
      assert.equal(renderVtt(m, options({ speakerLabels: 'prefix' })), vtt(['Ann: Hello there.', 'Again.', 'Bob &lt;2&gt;: Hi &amp; bye.']));
      assert.equal(renderVtt(m, options({ speakerLabels: 'none' })), vtt(['Hello there.', 'Again.', 'Hi &amp; bye.']));
      assert.equal(renderSrt(m, options({ speakerLabels: 'none' })).includes('Ann'), false);
    });

    it('keep a word longer than a line whole, on a line of its own', () => {
      const long = 'Donaudampfschifffahrtsgesellschaftskapitänsmütze';
      const m = transcript(said('A', 0, `I met the ${long} at the harbour yesterday`, 0.5, 0.1));
      assert.deepEqual(texts(transcriptCues(m, options({ speakerLabels: 'prefix' }))), [
        ['A: I met the', long],
        ['at the harbour yesterday'],
      ]);
    });

    it('keep a single word longer than maxCueSeconds as one cue', () => {
      const m = transcript({ speaker: 'A', start: 0, end: 9, text: 'mmmm', words: [{ word: 'mmmm', start: 0, end: 9, speaker: 'A' }] });
      assert.equal(renderSrt(m), '1\n00:00:00,000 --> 00:00:09,000\nA: mmmm\n');
    });

    it('extend a fast cue into the silence after it, up to a gap before the next cue', () => {
      // 44 characters spoken in 1 s need 2.2 s at 20 characters per second.
      const fast = said('A', 0, 'Absolutely everything was fine, as expected.', 0.15, 0.02);
      const cues = transcriptCues(transcript(fast, said('B', 5, 'Good.')));
      assert.deepEqual(cues[0]?.lines, ['Absolutely everything', 'was fine, as expected.']);
      assert.equal(cues[0]?.end, 2.2);
      // With the next cue at 1.5 s, the cue stops 80 ms before it and reads too fast: there is no room.
      const crowded = transcriptCues(transcript(fast, said('B', 1.5, 'Good.')));
      assert.equal(crowded[0]?.end, 1.5 - MIN_CUE_GAP_SECONDS);
    });

    it('extend a short cue to minCueSeconds where the gap allows, and merge it with its neighbour where not', () => {
      const cues = transcriptCues(transcript(said('A', 0, 'Yes.', 0.2), said('B', 3, 'No.', 0.2)));
      assert.deepEqual(
        cues.map((c) => [c.start, c.end]),
        [
          [0, 1],
          [3, 4],
        ],
      );
      // "Well." then, 0.2 s later, more from the same speaker: too short to stand alone, so one
      // cue, which reads in 0.95 s and lasts 1.1 s.
      const m = transcript(said('A', 0, 'Well.', 0.2), said('A', 0.4, 'I suppose so.', 0.2), said('B', 1.3, 'Fine.', 0.3));
      const merged = transcriptCues(m, options({ speakerLabels: 'none' }));
      assert.deepEqual(texts(merged), [['Well. I suppose so.'], ['Fine.']]);
      assert.deepEqual(
        merged.map((c) => [c.start, c.end]),
        [
          [0, 1.1],
          [1.3, 2.3],
        ],
      );
    });

    it('never put two speakers in one cue, however short their turns', () => {
      const m = transcript(said('A', 0, 'Hi.', 0.1), said('B', 0.15, 'Hey.', 0.1), said('A', 0.3, 'Ok.', 0.1));
      const cues = transcriptCues(m, options({ speakerLabels: 'none' }));
      assert.deepEqual(
        cues.map((c) => [c.speaker, c.lines.join(' ')]),
        [
          ['A', 'Hi.'],
          ['B', 'Hey.'],
          ['A', 'Ok.'],
        ],
      );
      assert.deepEqual(
        cues.map((c) => [c.start, c.end]),
        [
          [0, 0.1],
          [0.15, 0.25],
          [0.3, 1.3],
        ],
      );
    });

    it('split an utterance without words by time in proportion to the text', () => {
      const text = 'This utterance came without word timings, so its text is spread over its time span instead.';
      // 15 s for 92 characters: a line of 41 characters takes 6.7 s.
      const m = transcript({ speaker: 'A', start: 10, end: 25, text, words: [] });
      const cues = transcriptCues(m, options({ speakerLabels: 'none', maxLines: 1 }));
      assert.deepEqual(
        cues.map((c) => [c.start, c.end, c.lines, c.timedWords]),
        [
          [10, 16.758, ['This utterance came without word timings,'], false],
          [16.923, 20.385, ['so its text is spread'], false],
          [20.549, 25, ['over its time span instead.'], false],
        ],
      );
    });

    it('show an edited utterance text rather than words that no longer spell it', () => {
      const u = said('A', 0, 'the wether is fine');
      const m = transcript({ ...u, text: 'The weather is fine.' });
      assert.deepEqual(texts(transcriptCues(m, options({ speakerLabels: 'none' }))), [['The weather is fine.']]);
    });

    it('join punctuation the transcriber returned as words to the word before', () => {
      const words: AttributedWord[] = [
        { word: 'Really', start: 0, end: 0.4, speaker: 'A' },
        { word: '?', start: 0.4, end: 0.45, speaker: 'A' },
        { word: 'Yes', start: 0.6, end: 0.9, speaker: 'A' },
        { word: '.', start: 0.9, end: 0.95, speaker: 'A' },
      ];
      const m = transcript({ speaker: 'A', start: 0, end: 0.95, text: 'Really? Yes.', words });
      assert.deepEqual(transcriptCues(m)[0]?.lineWords, [
        [
          { text: 'Really?', start: 0, end: 0.45 },
          { text: 'Yes.', start: 0.6, end: 0.95 },
        ],
      ]);
    });

    it('mark each word in WebVTT with its start time when highlightWords is on', () => {
      const m = transcript(said('A', 1, 'Hello <big> world and all of you out there.', 0.4, 0.1));
      assert.equal(
        renderVtt(m, options({ highlightWords: true })),
        'WEBVTT\n\n00:00:01.000 --> 00:00:05.400\n' +
          '<v A>Hello <00:00:01.500>&lt;big&gt; <00:00:02.000>world\n' +
          '<00:00:02.500>and <00:00:03.000>all <00:00:03.500>of <00:00:04.000>you <00:00:04.500>out <00:00:05.000>there.\n',
      );
    });

    it('leave out word times that would not be strictly inside the cue and increasing', () => {
      const words: AttributedWord[] = [
        { word: 'one', start: 1, end: 1.5, speaker: 'A' },
        { word: 'two', start: 1, end: 1.5, speaker: 'A' },
        { word: 'three', start: 1.6, end: 2, speaker: 'A' },
        { word: 'four', start: 1.6, end: 2.5, speaker: 'A' },
      ];
      const m = transcript({ speaker: 'A', start: 1, end: 2.5, text: 'one two three four', words });
      assert.match(renderVtt(m, options({ highlightWords: true })), /\n<v A>one two <00:00:01\.600>three four\n/);
    });

    it('add no word times to a cue whose word times were estimated', () => {
      const m = transcript({ speaker: 'A', start: 1, end: 3, text: 'no words here', words: [] });
      assert.match(renderVtt(m, options({ highlightWords: true })), /\n<v A>no words here\n/);
    });

    it('keep cue text lines free of "-->" and line breaks', () => {
      const m = transcript(said('A', 0, 'a-->b'), { speaker: 'A', start: 5, end: 6, text: 'two\nlines', words: [] });
      assert.equal(renderSrt(m), '1\n00:00:00,000 --> 00:00:01,000\nA: a->b\n\n2\n00:00:05,000 --> 00:00:06,000\ntwo lines\n');
      assert.match(renderVtt(m), /<v A>a--&gt;b\n/);
    });

    it('treat nonsense options as the nearest sensible ones', () => {
      const m = transcript(said('A', 0, 'one two three'));
      const cues = transcriptCues(m, options({ maxLines: 0, maxLineChars: -3, maxCueSeconds: Number.NaN, maxCharsPerSecond: 0 }));
      // One line of one character, 7 s at most, no reading-speed limit: one word per cue.
      assert.deepEqual(texts(cues), [['one'], ['two'], ['three']]);
    });
  });

  describe('properties over random transcripts', () => {
    const SPEAKERS = ['A', 'B', 'Dr. Who', 'SPEAKER_00'];
    const PUNCTUATION_ONLY = /^[,.?!;:]+$/;

    const wordArb = fc.oneof(
      {
        weight: 12,
        arbitrary: fc
          .tuple(fc.stringMatching(/^[a-z]{1,12}$/), fc.constantFrom('', '', '', '', ',', '.', '?', '!', ':', ';'))
          .map(([w, p]) => w + p),
      },
      { weight: 2, arbitrary: fc.constantFrom('and', 'the', 'of', 'to', 'a', 'R&D', '<laughs>', 'x-->y', 'Dr.') },
      { weight: 1, arbitrary: fc.constantFrom(',', '.', '?!') },
      { weight: 1, arbitrary: fc.stringMatching(/^[a-z]{25,60}$/) },
    );
    const durationArb = fc.oneof(
      { weight: 20, arbitrary: fc.integer({ min: 0, max: 1200 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1200, max: 11_000 }) },
    );
    // Mostly silence between words, sometimes none, sometimes an overlap (as transcribers return).
    const gapArb = fc.oneof(
      { weight: 10, arbitrary: fc.integer({ min: 0, max: 900 }) },
      { weight: 2, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: -600, max: -1 }) },
    );
    const utteranceArb = fc.record({
      speaker: fc.constantFrom(...SPEAKERS),
      pause: fc.integer({ min: 0, max: 4000 }),
      words: fc.array(fc.record({ text: wordArb, gap: gapArb, duration: durationArb }), {
        minLength: 0,
        maxLength: 40,
      }),
      untimedText: fc.option(fc.array(wordArb, { minLength: 1, maxLength: 30 }), { freq: 8 }),
    });
    const transcriptArb = fc
      .record({ utterances: fc.array(utteranceArb, { maxLength: 8 }), tail: fc.integer({ min: 0, max: 3000 }), start: fc.integer({ min: 0, max: 5_000_000 }) })
      .map(({ utterances, tail, start }): MergedTranscript => {
        let clock = start;
        const built: Utterance[] = [];
        for (const u of utterances) {
          clock += u.pause;
          const from = clock;
          if (u.untimedText !== null) {
            // No word timings: only the text and the span.
            clock += 300 * u.untimedText.length;
            built.push({ speaker: u.speaker, start: from / 1000, end: clock / 1000, text: joinWords(u.untimedText), words: [] });
            continue;
          }
          if (u.words.length === 0) continue;
          const words: AttributedWord[] = u.words.map((w, i) => {
            if (i > 0) clock = Math.max(0, clock + w.gap);
            const word = { word: w.text, start: clock / 1000, end: (clock + w.duration) / 1000, speaker: u.speaker };
            clock += w.duration;
            return word;
          });
          built.push({ speaker: u.speaker, start: from / 1000, end: clock / 1000, text: joinWords(words.map((w) => w.word)), words });
        }
        return { source: 'random.wav', duration: (clock + tail) / 1000, language: null, speakers: SPEAKERS, utterances: built };
      });
    const optionsArb = fc.oneof(
      fc.constant(D),
      fc
        .record({
          maxLineChars: fc.integer({ min: 8, max: 60 }),
          maxLines: fc.integer({ min: 1, max: 3 }),
          maxCueMs: fc.integer({ min: 1500, max: 10_000 }),
          minCueMs: fc.integer({ min: 0, max: 2000 }),
          maxCharsPerSecond: fc.integer({ min: 8, max: 25 }),
          speakerLabels: fc.constantFrom(...SPEAKER_LABEL_STYLES),
          highlightWords: fc.boolean(),
        })
        .map(
          ({ maxCueMs, minCueMs, ...rest }): SubtitleOptions => ({
            ...rest,
            maxCueSeconds: maxCueMs / 1000,
            minCueSeconds: Math.min(minCueMs, maxCueMs) / 1000,
          }),
        ),
    );

    const ms = toMilliseconds;
    const spoken = (c: Cue): string => c.lineWords.flatMap((line) => line.map((w) => w.text)).join(' ');
    const wordCount = (c: Cue): number => c.lineWords.reduce((n, line) => n + line.length, 0);

    /** The words a reader should see, in order, each with its speaker; punctuation-only words join the word before. */
    function expectedWords(m: MergedTranscript): [string, string][] {
      const out: [string, string][] = [];
      for (const u of m.utterances) {
        const texts = u.words.length > 0 ? u.words.map((w) => w.word) : u.text.split(' ');
        let first = true;
        for (const text of texts) {
          const last = out[out.length - 1];
          if (!first && last && PUNCTUATION_ONLY.test(text)) last[1] += text;
          else out.push([u.speaker, text]);
          first = false;
        }
      }
      return out;
    }

    function check(property: (m: MergedTranscript, o: SubtitleOptions, cues: Cue[]) => void, numRuns = 300): void {
      fc.assert(
        fc.property(transcriptArb, optionsArb, (m, o) => property(m, o, transcriptCues(m, o))),
        { numRuns },
      );
    }

    it('show every word exactly once, in order, in a cue of its own speaker', () => {
      check((m, _o, cues) => {
        const shown = cues.flatMap((c) => c.lineWords.flatMap((line) => line.map((w): [string, string] => [c.speaker, w.text])));
        assert.deepEqual(shown, expectedWords(m));
      });
    });

    it('keep lines within maxLineChars (but for a line of one word) and cues within maxLines', () => {
      check((_m, o, cues) => {
        for (const c of cues) {
          assert.ok(c.lines.length >= 1 && c.lines.length <= o.maxLines, `${c.lines.length} lines`);
          assert.equal(c.lineWords.length, c.lines.length);
          c.lines.forEach((line, i) => {
            const words = c.lineWords[i]!;
            assert.ok(words.length > 0);
            assert.equal(line, `${i === 0 ? c.label : ''}${words.map((w) => w.text).join(' ')}`);
            assert.ok(line.length <= o.maxLineChars || words.length === 1, `line too long: "${line}"`);
            assert.doesNotMatch(line, /[\r\n]|^\s|\s$/);
          });
        }
      });
    });

    it('keep cues in time order, apart, and between start and end', () => {
      check((_m, _o, cues) => {
        cues.forEach((c, i) => {
          assert.equal(ms(c.start) / 1000, c.start, 'whole milliseconds');
          assert.equal(ms(c.end) / 1000, c.end, 'whole milliseconds');
          assert.ok(c.start < c.end, `cue ${i} is empty: ${c.start} --> ${c.end}`);
          const next = cues[i + 1];
          if (next) assert.ok(c.end <= next.start, `cue ${i} overlaps the next`);
        });
      });
    });

    it('keep cues within maxCueSeconds unless they hold a single longer word', () => {
      check((_m, o, cues) => {
        for (const c of cues) {
          assert.ok(ms(c.end) - ms(c.start) <= ms(o.maxCueSeconds) || wordCount(c) === 1, `${c.start} --> ${c.end}: ${spoken(c)}`);
        }
      });
    });

    it('give every cue minCueSeconds and its reading time wherever the silence after it allows', () => {
      check((m, o, cues) => {
        cues.forEach((c, i) => {
          const start = ms(c.start);
          const end = ms(c.end);
          const readMs = Math.max(ms(o.minCueSeconds), Math.ceil((spoken(c).length * 1000) / o.maxCharsPerSecond));
          const next = cues[i + 1];
          const room = next ? ms(next.start) - ms(MIN_CUE_GAP_SECONDS) : ms(m.duration) > 0 ? ms(m.duration) : Infinity;
          const wanted = Math.min(start + readMs, start + ms(o.maxCueSeconds), room);
          assert.ok(end >= wanted, `cue ${i} ends at ${end}, wanted ${wanted}: "${spoken(c)}"`);
        });
      });
    });

    it('mark speaker changes, and label only them in prefix mode (SRT: in voice mode too)', () => {
      check((_m, o, cues) => {
        cues.forEach((c, i) => {
          assert.equal(c.speakerChange, i === 0 || cues[i - 1]!.speaker !== c.speaker);
          assert.equal(c.label, o.speakerLabels === 'prefix' && c.speakerChange ? `${c.speaker}: ` : '');
        });
      });
    });

    it('render SRT with numbered cues, the cue times, and names only at changes', () => {
      check((m, o) => {
        const srt = renderSrt(m, o);
        const cues = transcriptCues(m, { ...o, speakerLabels: o.speakerLabels === 'none' ? 'none' : 'prefix' });
        const blocks = srt === '' ? [] : srt.slice(0, -1).split('\n\n');
        assert.equal(blocks.length, cues.length);
        blocks.forEach((block, i) => {
          const [index, timing, ...lines] = block.split('\n');
          const cue = cues[i]!;
          assert.equal(index, String(i + 1));
          const [from, to] = (timing ?? '').split(' --> ');
          assert.equal(parseTimecode(from ?? ''), cue.start);
          assert.equal(parseTimecode(to ?? ''), cue.end);
          assert.ok(lines.length > 0 && lines.every((l) => l !== '' && !l.includes('-->')));
          const labelled = SPEAKERS.some((s) => lines[0]!.startsWith(`${s}: `));
          assert.equal(labelled, o.speakerLabels !== 'none' && cue.speakerChange, lines[0]);
        });
      }, 150);
    });

    it('render WebVTT with a voice tag per cue and word times strictly inside each cue, increasing', () => {
      check((m, o) => {
        const vtt = renderVtt(m, o);
        const cues = transcriptCues(m, o);
        assert.ok(vtt.startsWith('WEBVTT\n'));
        const blocks = vtt.split('\n\n').slice(1);
        assert.equal(blocks.length, cues.length);
        blocks.forEach((block, i) => {
          const [timing, ...lines] = block.replace(/\n$/, '').split('\n');
          const cue = cues[i]!;
          assert.equal(timing, timing?.match(/^\S+ --> \S+$/)?.[0]);
          assert.ok(lines.length === cue.lines.length && lines.every((l) => l !== '' && !l.includes('-->')));
          const voice = `<v ${escapeVtt(cue.speaker)}>`;
          assert.equal(lines[0]!.startsWith(voice), o.speakerLabels === 'voice');
          const stamps = [...block.matchAll(/<(\d\d:\d\d:\d\d\.\d\d\d)>/g)].map((x) => parseTimecode(x[1]!)!);
          if (!o.highlightWords) assert.deepEqual(stamps, []);
          let last = cue.start;
          for (const t of stamps) {
            assert.ok(t > last && t < cue.end, `${t} not inside ${cue.start} --> ${cue.end} after ${last}`);
            last = t;
          }
          const plain = lines.map((l) => l.replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
          assert.deepEqual(plain, cue.lines);
        });
      }, 150);
    });
  });
});
