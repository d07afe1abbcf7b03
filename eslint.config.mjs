// Lint rules that keep the architecture honest. Two kinds of rail:
//
// 1. Banned imports per folder (the dependency direction of the codebase):
//      src/domain     imports nothing of ours but src/domain; of packages only zod, and docx and
//                     fflate (in-memory document building) for the DOCX export (pure: no Node
//                     built-ins, no Temporal, no I/O).
//      src/workflows  imports src/domain, src/workflows, @temporalio/workflow and the root of
//                     @temporalio/common; src/activities as types only (proxyActivities<…>).
//                     Nothing else: no Node built-ins, no other package, no providers/client/config.
//      src/activities never imports src/client.
//      src/client     no worker internals: src/activities as types only; src/workflows as types only
//                     except src/workflows/messages (queries, search attributes); of src/providers
//                     only ffmpeg (probing), artifact-store (sha256, reading artifacts), errors,
//                     interfaces and the file stores output-files, speaker-names and voices;
//                     @temporalio/activity as types only. The in-process worker seam —
//                     src/client/context.ts (starts a worker inside `speech run`) and
//                     src/client/commands/worker.ts (`speech worker`) — is the only place in the client
//                     that may import src/worker and @temporalio/worker values.
//      src/providers  leaf adapters: never import src/client, src/activities, src/workflows or src/worker.
//    Relative specifiers are matched as written, so each folder gets one rule set per directory depth
//    (`../x` leaves src/domain from src/domain/a.ts but not from src/domain/formats/b.ts). Imports that
//    would dodge that textual check — non-normal paths (`./a/../../x`), `src/…` or absolute
//    specifiers, dynamic import(), require(), `import('…')` types — are errors in these folders.
//    We use the core `no-restricted-imports` (in ESLint 9 it honours `allowTypeImports` per pattern), not the
//    typescript-eslint extension: the extension lets a type-only import through every pattern as soon
//    as ONE matching pattern allows type imports.
//
// 2. Type-aware promise rules (no-floating-promises, no-misused-promises, await-thenable) on every
//    TypeScript file of src, scripts, bench and test, through the TypeScript project service
//    (tsconfig.json).
//
// test/lint/lint-rails.test.ts proves each rail with fixtures in test/lint/fixtures (ignored here and
// excluded from tsconfig.json): it lints their text with this very config under the repository path
// each one mirrors (test/lint/fixtures/src/domain/imports.bad.ts is linted as src/domain/imports.bad.ts).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Deepest directory nesting below a rail folder that gets its own rule set (today's deepest is 1:
// src/domain/formats, src/client/commands); a file nested deeper fails lint asking to raise it.
const MAX_DEPTH = 4;

const up = (levels) => `(?:\\.\\./){${levels}}`;
/** Specifier leaves the rail folder: from depth d it starts with d+1 `../` (or is d `../` + `..`). */
const leaves = (d) => `^${up(d)}\\.\\.(?:/|$)`;
/** Specifier leaves the rail folder into src/<name> (a file or folder of that name). */
const into = (d, name) => `^${up(d + 1)}${name}(?:[./]|$)`;

const notNormal = {
  regex: '(?:^|/)(?!\\.\\.(?:/|$))[^/]+/\\.\\.?(?:/|$)|^(?:/|src/)',
  message:
    'Write relative imports in normal form (no ./ or ../ after the first segment) and never as src/… or absolute paths, so the folder rails can see where they point.',
};

const dynamicImportBan = [
  'error',
  { selector: 'ImportExpression', message: 'Use a static import here: the folder rails (no-restricted-imports) only check static imports.' },
  { selector: "CallExpression[callee.type='Identifier'][callee.name='require']", message: 'Use a static import here: the folder rails (no-restricted-imports) only check static imports.' },
  { selector: 'TSImportType', message: "Use `import type` here: the folder rails (no-restricted-imports) do not see import('…') types." },
];

const rails = {
  domain: (d) => [
    { regex: leaves(d), message: 'Domain code imports nothing of ours but src/domain.' },
    {
      // docx and fflate build a Word document in memory (the DOCX export), with no I/O.
      regex: '^(?![./]|src/|(?:zod|docx|fflate)(?:/|$))',
      message: 'Domain code is pure: of packages it may import only zod, and docx/fflate for the DOCX export (no Node built-ins, no Temporal, no I/O libraries).',
    },
    notNormal,
  ],
  workflows: (d) => [
    {
      regex: `^${up(d)}\\.\\.(?:/(?!(?:domain|activities)(?:/|$))|$)`,
      message: 'Workflow code imports only src/domain and src/workflows (and src/activities as types).',
    },
    {
      regex: into(d, 'activities'),
      allowTypeImports: true,
      message: 'Workflow code may import activities as types only (proxyActivities<Activities>): activity code runs outside the sandbox.',
    },
    {
      regex: '^(?![./]|src/|@temporalio/workflow(?:/|$)|@temporalio/common$)',
      message:
        "Workflow code runs in Temporal's deterministic sandbox: of packages it may import only @temporalio/workflow and @temporalio/common (the root: deep paths hold Node-only modules). No Node built-ins, no @temporalio/activity|worker|client, no I/O libraries.",
    },
    notNormal,
  ],
  activities: (d) => [
    { regex: into(d, 'client'), message: 'Activities never import the client (src/client): the CLI depends on the worker side, not the other way round.' },
    notNormal,
  ],
  client: (d, { seam = false } = {}) => [
    {
      regex: into(d, 'activities'),
      allowTypeImports: true,
      message: 'The client may import activities as types only (e.g. a map typed against Activities): activity code runs in workers.',
    },
    {
      regex: `^${up(d + 1)}workflows(?:/(?!messages(?:\\.[jt]s)?$).*|$)`,
      allowTypeImports: true,
      message: "The client may import workflow code as types only; values it needs (queries, search attributes) come from src/workflows/messages.",
    },
    {
      regex: `^${up(d + 1)}providers(?:/(?!(?:ffmpeg|artifact-store|errors|interfaces|output-files|speaker-names|stage-cache|voices|wav)(?:\\.[jt]s)?$).*|$)`,
      allowTypeImports: true,
      message:
        'The client may use only the providers it needs to probe and hash inputs and read or write files on disk (ffmpeg, artifact-store, errors, interfaces, output-files, speaker-names, stage-cache, voices, wav); transcription, diarization and HTTP plumbing are worker internals.',
    },
    ...(seam
      ? []
      : [
          {
            regex: into(d, 'worker'),
            allowTypeImports: true,
            message: 'Only the in-process worker seam (src/client/context.ts, src/client/commands/worker.ts) may import src/worker.',
          },
          {
            regex: '^@temporalio/worker(?:/|$)',
            allowTypeImports: true,
            message: 'Only the in-process worker seam (src/client/context.ts, src/client/commands/worker.ts) may import @temporalio/worker values.',
          },
        ]),
    {
      regex: '^@temporalio/activity(?:/|$)',
      allowTypeImports: true,
      message: '@temporalio/activity belongs to activity code; the client may use its types only.',
    },
    notNormal,
  ],
  providers: (d) => [
    {
      regex: `^${up(d + 1)}(?:client|activities|workflows|worker)(?:[./]|$)`,
      message: 'Providers are leaf adapters: they never import src/client, src/activities, src/workflows or src/worker.',
    },
    notNormal,
  ],
};

/** Glob of the .ts files exactly `depth` directories below src/<folder>. */
const atDepth = (folder, depth) => `src/${folder}/${'*/'.repeat(depth)}*.ts`;

const CLIENT_SEAM = ['src/client/context.ts', 'src/client/commands/worker.ts'];
const seamDepth = (file) => file.split('/').length - 3;

const railBlocks = Object.entries(rails).flatMap(([folder, patternsAt]) => [
  ...Array.from({ length: MAX_DEPTH + 1 }, (_, depth) => ({
    files: [atDepth(folder, depth)],
    rules: {
      'no-restricted-imports': ['error', { patterns: patternsAt(depth) }],
      'no-restricted-syntax': dynamicImportBan,
    },
  })),
  {
    files: [`src/${folder}/${'*/'.repeat(MAX_DEPTH + 1)}**/*.ts`],
    rules: {
      'no-restricted-syntax': ['error', { selector: 'Program', message: 'Nested too deep for the import rails: raise MAX_DEPTH in eslint.config.mjs.' }],
    },
  },
]);

const seamBlocks = CLIENT_SEAM.map((file) => ({
  files: [file],
  rules: { 'no-restricted-imports': ['error', { patterns: rails.client(seamDepth(file), { seam: true }) }] },
}));

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'data/**',
      'engine/.venv/**',
      '.tmp/**',
      'bin/**',
      'scripts/*.js',
      'test/reporter.js',
      'eslint.config.mjs',
      // Deliberately broken code, linted by test/lint/lint-rails.test.ts under pretend paths.
      'test/lint/fixtures/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  ...railBlocks,
  ...seamBlocks,
  {
    files: ['src/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
);
