// schema/cli/ is a promise to scripts: every schema compiles (JSON Schema 2020-12, strict), and
// every one is checked against real command output somewhere in the tests.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';

const ROOT = path.join(__dirname, '..', '..');
const SCHEMAS = readdirSync(path.join(ROOT, 'schema', 'cli')).filter((f) => f.endsWith('.schema.json'));

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? (e.name === 'fixtures' ? [] : testFiles(path.join(dir, e.name))) : e.name.endsWith('.test.ts') ? [path.join(dir, e.name)] : []));
}

describe('CLI JSON schemas (schema/cli)', () => {
  it('compile in strict mode', () => {
    assert.ok(SCHEMAS.length >= 10);
    const ajv = new Ajv2020({ strict: true });
    for (const f of SCHEMAS) ajv.compile(JSON.parse(readFileSync(path.join(ROOT, 'schema', 'cli', f), 'utf8')) as object);
  });

  it('are each checked against real output by a test', () => {
    const tests = testFiles(path.join(ROOT, 'test')).map((f) => readFileSync(f, 'utf8')).join('\n');
    const used = new Set([...tests.matchAll(/assertCliJson\('([a-z-]+)'/g)].map((m) => m[1]));
    // show, status, list and validate are checked in a loop over the commands' own names.
    for (const m of tests.matchAll(/assertCliJson\(args\[0\]!/g)) if (m) ['status', 'show', 'list', 'validate'].forEach((n) => used.add(n));
    for (const f of SCHEMAS) assert.ok(used.has(f.replace('.schema.json', '')), `${f} is checked by no test`);
  });
});
