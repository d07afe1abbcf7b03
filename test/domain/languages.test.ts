import assert from 'node:assert/strict';
import { isoLanguage, LANGUAGE_CODES } from '../../src/domain/languages';

describe('languages', () => {
  it('names every language by its ISO-639-1 code, however the provider named it', () => {
    assert.equal(isoLanguage('english'), 'en');
    assert.equal(isoLanguage('English'), 'en');
    assert.equal(isoLanguage('en'), 'en');
    assert.equal(isoLanguage('en-US'), 'en');
    assert.equal(isoLanguage('haitian creole'), 'ht');
    assert.equal(isoLanguage('javanese'), 'jv');
    assert.equal(isoLanguage('jw'), 'jv');
    assert.equal(isoLanguage(null), null);
    assert.equal(isoLanguage('  '), null);
    assert.equal(isoLanguage('Klingon'), 'klingon', 'an unknown name is kept, not dropped');
  });

  it('takes the codes Whisper models know, and no others', () => {
    for (const code of ['en', 'de', 'fr', 'ja', 'zh', 'yue', 'haw']) assert.ok(LANGUAGE_CODES.has(code), code);
    for (const code of ['xx', 'english', 'jw', 'en-us']) assert.ok(!LANGUAGE_CODES.has(code), code);
    assert.equal(LANGUAGE_CODES.size, 100, "Whisper large-v3's languages");
  });
});
