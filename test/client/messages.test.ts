// The CLI's own words: each problem said once, plainly.
import assert from 'node:assert/strict';
import { z } from 'zod';
import { truncate } from '../../src/client/commands/list';
import { parseRunFlags } from '../../src/client/commands/run';
import { zodProblems } from '../../src/client/errors';

describe('CLI messages', () => {
  it('names a bad flag once', () => {
    let problems: string[] = [];
    try {
      parseRunFlags({ speakers: '0', parallel: 'x' });
    } catch (err) {
      problems = zodProblems(err as z.ZodError);
    }
    assert.deepEqual(problems, ['--speakers must be at least 1', '--parallel must be a number']);
    assert.deepEqual(zodProblems(new z.ZodError([{ code: 'custom', path: ['formats'], message: 'name at least one format', input: '' }])), ['--formats: name at least one format']);
  });

  it('refuses a language code no model knows before anything starts (--language xx)', () => {
    let problems: string[] = [];
    try {
      parseRunFlags({ language: 'xx' });
    } catch (err) {
      problems = zodProblems(err as z.ZodError);
    }
    assert.deepEqual(problems, ['--language: "xx" is not a language the transcription models know; use an ISO-639-1 code such as en, de, fr, es, ja']);
    assert.equal(parseRunFlags({ language: 'DE' }).language, 'de');
  });

  it('keeps list notes to one short line', () => {
    const long = `Transcription failed: ${'the provider said no. '.repeat(10)}`;
    const shown = truncate(long, 60);
    assert.equal(shown.length, 60);
    assert.match(shown, /…$/);
    assert.equal(truncate('short\nnote', 60), 'short note');
  });
});
