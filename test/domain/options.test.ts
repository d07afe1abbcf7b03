import assert from 'node:assert/strict';
import { canonicalOptionsString, slugifyFileName, type PipelineOptions } from '../../src/domain/options';

const base: PipelineOptions = {
  language: 'en',
  numSpeakers: 2,
  minSpeakers: null,
  maxSpeakers: null,
  transcribeModel: 'whisper-1',
};

describe('canonicalOptionsString', () => {
  it('writes sorted keys with nulls kept', () => {
    assert.equal(
      canonicalOptionsString(base),
      '{"language":"en","maxSpeakers":null,"minSpeakers":null,"numSpeakers":2,"transcribeModel":"whisper-1"}',
    );
  });

  it('does not depend on property order', () => {
    const reordered: PipelineOptions = {
      transcribeModel: 'whisper-1',
      maxSpeakers: null,
      numSpeakers: 2,
      minSpeakers: null,
      language: 'en',
    };
    assert.equal(canonicalOptionsString(reordered), canonicalOptionsString(base));
  });

  it('changes when any option changes', () => {
    const variants: PipelineOptions[] = [
      { ...base, language: null },
      { ...base, numSpeakers: 3 },
      { ...base, minSpeakers: 1 },
      { ...base, maxSpeakers: 4 },
      { ...base, transcribeModel: 'gpt-4o-transcribe' },
    ];
    const strings = new Set([base, ...variants].map(canonicalOptionsString));
    assert.equal(strings.size, variants.length + 1);
  });

  it('ignores properties that are not options', () => {
    const extra = { ...base, verbose: true } as PipelineOptions;
    assert.equal(canonicalOptionsString(extra), canonicalOptionsString(base));
  });
});

describe('slugifyFileName', () => {
  const cases: [string, string][] = [
    ['Team Meeting 2026-11-03.m4a', 'team-meeting-2026-11-03'],
    ['meetings/2026-11-03.m4a', '2026-11-03'],
    ['C:\\rec\\Interview (Final).WAV', 'interview-final'],
    ['Réunion été.mp3', 'reunion-ete'],
    ['__weird__name__.ogg', 'weird-name'],
    ['archive.tar.gz', 'archive-tar'],
    ['.hidden', 'hidden'],
    ['noext', 'noext'],
    ['!!!.mp3', 'audio'],
    ['', 'audio'],
    ['日本語.wav', 'audio'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${expected}`, () => {
      assert.equal(slugifyFileName(input), expected);
    });
  }

  it('keeps at most 40 characters and never ends in a dash after cutting', () => {
    const slug = slugifyFileName(`${'a'.repeat(39)} b c d.wav`);
    assert.equal(slug, 'a'.repeat(39));
    assert.equal(slugifyFileName(`${'x'.repeat(60)}.wav`).length, 40);
  });
});
