// ESLint flat config: typescript-eslint (type-aware where it matters), import cycles, the layers, and the
// determinism fence around workflow code. Formatting is Prettier's job (eslint-config-prettier).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createNodeResolver, flatConfigs as importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** Node built-ins by bare name (`fs`, `path`…); `node:*` is banned by pattern. */
const nodeBuiltins = [
  'assert',
  'async_hooks',
  'buffer',
  'child_process',
  'cluster',
  'crypto',
  'dgram',
  'dns',
  'events',
  'fs',
  'fs/promises',
  'http',
  'http2',
  'https',
  'net',
  'os',
  'path',
  'perf_hooks',
  'process',
  'readline',
  'stream',
  'stream/promises',
  'timers',
  'tls',
  'url',
  'util',
  'v8',
  'vm',
  'worker_threads',
  'zlib',
];

/**
 * The layers point one way: the application (`src/`) is what the Docker image ships, so it never imports the
 * project's scripts, tests or benchmarks (the image has none of them); benchmarks never import tests. A relative
 * import that climbs out of its folder into one of those trees is refused (type-only imports too).
 */
const outOfLayer = (trees, message) => ({ regex: `^(\\.\\./)+(${trees.join('|')})/`, message });
const srcLayers = [
  outOfLayer(
    ['scripts', 'test', 'bench'],
    'src/ must not import scripts/, test/ or bench/: move what it needs into src/.',
  ),
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.data/',
      '.tools/',
      '.venv/',
      '.tmp*/',
      'coverage/',
      'dist/',
      'dist.tmp-*/',
      'dist.old-*/',
      'dbt/target/',
      'dbt/logs/',
      'dbt/dbt_packages/',
    ],
  },
  js.configs.recommended,
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', URL: 'readonly' } },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended, importX.recommended, importX.typescript],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    settings: {
      // Imports are written with .js and resolve to the .ts sources (NodeNext).
      'import-x/resolver-next': [createNodeResolver({ extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's describe/test return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', name: ['describe', 'it', 'suite', 'test'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'import-x/no-cycle': 'error',
      // TypeScript already checks these; the resolver-based versions are slow and duplicate it.
      'import-x/no-unresolved': 'off',
      'import-x/named': 'off',
      'import-x/namespace': 'off',
      'import-x/default': 'off',
      'import-x/no-named-as-default-member': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: srcLayers }],
      // The image installs with `npm ci --omit=dev`: what src/ loads at run time must be a dependency.
      'import-x/no-extraneous-dependencies': ['error', { devDependencies: false }],
    },
  },
  {
    files: ['bench/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [outOfLayer(['test'], 'bench/ must not import test/: move what it needs into src/ or bench/.')] },
      ],
    },
  },
  {
    // Workflow code is replayed and must stay deterministic: no Node APIs, no clients, no I/O
    // libraries, and activities only as types (the worker runs them, workflows call proxies).
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code must not use Node built-ins.' })),
          patterns: [
            ...srcLayers,
            { group: ['node:*'], message: 'Workflow code must not use Node built-ins.' },
            { group: ['@aws-sdk/*'], message: 'Call the object store or warehouse from an activity.' },
            {
              group: ['pg', 'pg-copy-streams', 'execa', 'sharp', '@slack/*', 'telegraf'],
              message: 'Clients and I/O belong in activities.',
            },
            {
              group: ['../activities', '../activities/*', '../activities/**'],
              allowTypeImports: true,
              message: 'Import activities as types only (`import type`) and call them through proxyActivities.',
            },
          ],
        },
      ],
    },
  },
  prettier,
);
