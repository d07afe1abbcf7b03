// The lint rails hold: every fixture in test/lint/fixtures is linted with the REAL eslint.config.mjs
// (ESLint's Node API, config file found from the repository root as `eslint .` finds it) under the
// path it mirrors — test/lint/fixtures/src/domain/imports.bad.ts is linted as src/domain/imports.bad.ts
// — so the per-folder globs, depths and seam files apply exactly as they do to real code.
//
// The only thing the test adds to the config is where TypeScript finds those pretend files: they are
// not on disk at that path, so the project service may put them in its default project
// (`allowDefaultProject`, listing exactly those paths; compiler options from tsconfig.json). The two
// seam fixtures are linted as the real src/client/context.ts and src/client/commands/worker.ts, whose
// text the project service then takes from the fixture. Rules, files globs and ignores are untouched.
//
// A fixture line that must fail ends with `// expect: RULE-ID "fragment", RULE-ID …`; the messages
// ESLint reports must be exactly the announced ones. `*.ok.ts` fixtures announce none.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURES = path.join(__dirname, 'fixtures');

interface Expected {
  line: number;
  ruleId: string;
  fragment?: string;
}

interface Fixture {
  /** Path below test/lint/fixtures, which is also the repository path it is linted as. */
  rel: string;
  text: string;
  expected: Expected[];
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return listTs(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

function parseExpectations(text: string): Expected[] {
  return text.split('\n').flatMap((lineText, i) => {
    const marker = /\/\/ expect: (.*)$/.exec(lineText);
    if (!marker) return [];
    return marker[1]!.split(',').map((part) => {
      const m = /^\s*([@\w/-]+)(?:\s+"([^"]*)")?\s*$/.exec(part);
      if (!m) throw new Error(`bad expectation on line ${i + 1}: ${part}`);
      return { line: i + 1, ruleId: m[1]!, ...(m[2] !== undefined ? { fragment: m[2] } : {}) };
    });
  });
}

const fixtures: Fixture[] = listTs(FIXTURES)
  .map((abs) => {
    const text = readFileSync(abs, 'utf8');
    return { rel: path.relative(FIXTURES, abs).split(path.sep).join('/'), text, expected: parseExpectations(text) };
  })
  .sort((a, b) => a.rel.localeCompare(b.rel));

const key = (line: number, ruleId: string | null): string => `${String(line).padStart(3)}  ${ruleId ?? '(fatal)'}`;

describe('lint rails (eslint.config.mjs)', function () {
  // The first lint builds the TypeScript project of the whole repository (a few seconds).
  this.timeout(180_000);

  const results = new Map<string, ESLint.LintResult>();

  before(async () => {
    const notOnDisk = fixtures.filter((f) => !existsSync(path.join(ROOT, f.rel))).map((f) => f.rel);
    const eslint = new ESLint({
      cwd: ROOT,
      overrideConfig: {
        languageOptions: {
          parserOptions: {
            projectService: {
              allowDefaultProject: notOnDisk,
              // Default projects are capped at 8 files to keep real linting fast; these are few and tiny.
              maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: notOnDisk.length,
            },
          },
        },
      },
    });
    for (const f of fixtures) {
      const [result] = await eslint.lintText(f.text, { filePath: path.join(ROOT, f.rel), warnIgnored: true });
      results.set(f.rel, result!);
    }
  });

  it('has a failing and a passing fixture for every rail folder and every rule', () => {
    const folders = ['src/domain', 'src/workflows', 'src/activities', 'src/client', 'src/providers', 'scripts', 'bench', 'test'];
    for (const folder of folders) {
      const inFolder = fixtures.filter((f) => f.rel.startsWith(`${folder}/`));
      assert.ok(inFolder.some((f) => f.expected.length > 0), `no failing fixture under ${folder}`);
      assert.ok(inFolder.some((f) => f.rel.endsWith('.ok.ts')), `no passing fixture under ${folder}`);
    }
    const announced = new Set(fixtures.flatMap((f) => f.expected.map((e) => e.ruleId)));
    for (const rule of [
      'no-restricted-imports',
      'no-restricted-syntax',
      '@typescript-eslint/no-floating-promises',
      '@typescript-eslint/no-misused-promises',
      '@typescript-eslint/await-thenable',
    ]) {
      assert.ok(announced.has(rule), `no fixture breaks ${rule}`);
    }
    for (const f of fixtures) {
      if (f.rel.endsWith('.ok.ts')) assert.equal(f.expected.length, 0, `${f.rel} is a passing fixture but announces errors`);
      else assert.ok(f.expected.length > 0, `${f.rel} announces no error: name it *.ok.ts`);
    }
  });

  it('keeps the fixtures out of `eslint .`', async () => {
    const plain = new ESLint({ cwd: ROOT });
    for (const f of fixtures) assert.ok(await plain.isPathIgnored(path.join(FIXTURES, f.rel)), `${f.rel} is not ignored`);
  });

  for (const f of fixtures) {
    it(`${f.rel} ${f.expected.length ? `fails with exactly its ${f.expected.length} announced errors` : 'lints clean'}`, () => {
      const result = results.get(f.rel);
      assert.ok(result, 'not linted');
      const got = result.messages.map((m) => key(m.line, m.ruleId)).sort();
      const want = f.expected.map((e) => key(e.line, e.ruleId)).sort();
      const detail = result.messages.map((m) => `${m.line}:${m.column} ${m.ruleId ?? '(fatal)'} ${m.message}`).join('\n');
      assert.deepEqual(got, want, `messages differ from the // expect markers; ESLint said:\n${detail}`);
      for (const m of result.messages) assert.equal(m.severity, 2, `${m.line}: ${m.ruleId} is not an error`);
      for (const e of f.expected) {
        if (e.fragment === undefined) continue;
        const fragment = e.fragment;
        assert.ok(
          result.messages.some((m) => m.line === e.line && m.ruleId === e.ruleId && m.message.includes(fragment)),
          `line ${e.line}: no ${e.ruleId} message containing "${fragment}"; ESLint said:\n${detail}`,
        );
      }
    });
  }
});
