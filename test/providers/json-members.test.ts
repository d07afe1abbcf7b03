import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { readJsonMembers } from '../../src/providers/json-members';
import { testTmpDir } from '../helpers/temporal';

describe('reading a large JSON file a member and an element at a time', () => {
  let dir: string;
  let n = 0;
  before(async () => {
    dir = await testTmpDir('speech-json-members-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function file(text: string): Promise<string> {
    const f = path.join(dir, `${++n}.json`);
    await writeFile(f, text);
    return f;
  }

  it('gives what JSON.parse gives, however the file is laid out and cut into chunks', async () => {
    const doc = fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 12 })), { maxKeys: 6 });
    await fc.assert(
      fc.asyncProperty(doc, fc.constantFrom(undefined, 2, '\t', ' \n '), fc.integer({ min: 1, max: 40 }), fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), async (value, indent, chunkBytes, picks) => {
        const text = JSON.stringify(value, null, indent as string | number | undefined);
        const parsed = JSON.parse(text) as Record<string, unknown>;
        const keys = Object.keys(parsed);
        const each = keys.filter((k, i) => Array.isArray(parsed[k]) && picks[i % 6]);
        const skip = keys.filter((k, i) => !each.includes(k) && picks[(i + 3) % 6]);
        const seen: Record<string, unknown[]> = {};
        const result = await readJsonMembers(await file(text), { each: Object.fromEntries(each.map((k) => [k, (e: unknown) => (seen[k] ??= []).push(e)])), skip }, { chunkBytes });
        // Members keep the file's order; those read element by element hold their place as null.
        assert.deepEqual(Object.keys(result), keys.filter((k) => !skip.includes(k)));
        for (const k of keys) {
          if (skip.includes(k)) continue;
          if (each.includes(k)) {
            assert.equal(result[k], null);
            assert.deepEqual(seen[k] ?? [], parsed[k]);
          } else assert.deepEqual(result[k], parsed[k]);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('refuses what JSON.parse refuses, and JSON that is not an object', async () => {
    for (const text of ['', '{"a": [1, 2}', '{"a": 1', '{"a": 1} x', '{"a": 1,}', '{"a": [1,]}', '{"a": [,1]}', '{"a" 1}', '{a: 1}', '{"a": }', '\ufeff{"a": 1}']) {
      assert.throws(() => JSON.parse(text), SyntaxError, text);
      await assert.rejects(readJsonMembers(await file(text), { each: { a: () => undefined } }), SyntaxError, text);
    }
    for (const text of ['[1, 2]', '"text"', '1', 'null']) await assert.rejects(readJsonMembers(await file(text), {}), SyntaxError, text);
  });
});
