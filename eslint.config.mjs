// Lint rules that keep the architecture honest: workflow code stays deterministic
// (no Node built-ins, no value imports of activities or providers).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)].filter(
  // The workflow sandbox provides these three.
  (m) => !['assert', 'url', 'util', 'node:assert', 'node:url', 'node:util'].includes(m),
);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', '.tmp/**', 'bin/**', 'scripts/*.js', 'test/reporter.js', 'eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['src/workflows/**/*.ts', 'src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow and domain code must stay deterministic: no Node built-ins.' })),
          patterns: [
            {
              group: ['**/activities', '**/activities/**', '**/providers', '**/providers/**', '**/client/**', '**/worker', '**/config'],
              allowTypeImports: true,
              message: 'Workflow and domain code may import activities and providers as types only.',
            },
            {
              group: ['@temporalio/activity', '@temporalio/worker', '@temporalio/client', 'openai', 'fluent-ffmpeg'],
              message: 'Not allowed in workflow or domain code.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Domain code is pure: no Node built-ins.' })),
          patterns: [
            {
              group: ['@temporalio/*', 'openai', 'fluent-ffmpeg', '**/activities/**', '**/providers/**', '**/client/**', '**/workflows/**'],
              allowTypeImports: false,
              message: 'Domain code is pure: no Temporal, providers or I/O.',
            },
          ],
        },
      ],
    },
  },
);
