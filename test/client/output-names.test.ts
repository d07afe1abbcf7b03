import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planOutputNames } from '../../src/client/output-names';

describe('output names of a batch', () => {
  it('keeps plain names where they do not collide, or when every run has its own folder', () => {
    assert.deepEqual(planOutputNames(['/a/one.wav', '/a/two.mp3'], true).map((n) => n.baseName), ['one', 'two']);
    assert.deepEqual(planOutputNames(['/a/conv.wav', '/a/conv.m4a'], false).map((n) => [n.baseName, n.renamed]), [['conv', false], ['conv', false]]);
  });

  it('names colliding inputs apart: by extension, then folder, then a counter', () => {
    assert.deepEqual(planOutputNames(['/a/conv.wav', '/a/conv.m4a', '/a/other.wav'], true).map((n) => [n.baseName, n.renamed]), [['conv-wav', true], ['conv-m4a', true], ['other', false]]);
    assert.deepEqual(planOutputNames(['/x/conv.wav', '/y/conv.wav'], true).map((n) => n.baseName), ['x-conv-wav', 'y-conv-wav']);
    assert.deepEqual(planOutputNames(['/x/a/conv.wav', '/y/a/conv.wav'], true).map((n) => n.baseName), ['a-conv-wav', 'a-conv-wav-2']);
    assert.deepEqual(planOutputNames(['/a/Conv.wav', '/a/conv.mp3'], true).map((n) => n.baseName), ['Conv-wav', 'conv-mp3'], 'case-insensitive file systems');
  });

  it('always gives distinct names (case-insensitively), in a way that depends only on the inputs', () => {
    const file = fc.tuple(fc.constantFrom('a', 'b', 'A'), fc.constantFrom('conv', 'Conv', 'x', 'conv-wav'), fc.constantFrom('wav', 'm4a', 'WAV')).map(([d, n, e]) => `/${d}/${n}.${e}`);
    fc.assert(
      fc.property(fc.uniqueArray(file, { maxLength: 12 }), (files) => {
        const names = planOutputNames(files, true).map((n) => n.baseName.toLowerCase());
        assert.equal(new Set(names).size, names.length, names.join(' '));
        assert.deepEqual(planOutputNames(files, true), planOutputNames([...files], true));
      }),
    );
  });
});
