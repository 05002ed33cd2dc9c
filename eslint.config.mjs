// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';

/** Drivers may only be imported by the adapter folder named after them. */
const DRIVERS = [
  'pg',
  '@electric-sql/pglite',
  'mongoose',
  'mongodb',
  'kafkajs',
  'redis',
  'fastify',
  'mercurius',
  'socket.io',
  'prom-client',
  'msgpackr',
  'protobufjs',
];

/** `no-restricted-imports` for src/: no drivers (except `allowedDrivers`), no tests, no barrel. */
function srcImportRule(allowedDrivers = []) {
  return [
    'error',
    {
      paths: DRIVERS.filter((name) => !allowedDrivers.includes(name)).map((name) => ({
        name,
        message: 'Drivers are loaded only by their adapter folder (see ARCHITECTURE.md §2).',
      })),
      patterns: [
        {
          group: ['**/examples/**', '**/test/**', '**/bench/**'],
          message: 'src/ never imports examples, tests or benchmarks.',
        },
        {
          group: ['potter', 'potter/*'],
          message: 'Inside src/, import modules by relative path, never through the package barrel.',
        },
      ],
    },
  ];
}

export default tseslint.config(
  { ignores: ['node_modules', 'dist', 'build', 'coverage', '.cache'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      globals: { ...globals.node },
      // Classes used as constructor-parameter types must stay value imports (decorator metadata).
      parserOptions: { emitDecoratorMetadata: true, experimentalDecorators: true },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-unsafe-function-type': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-imports': srcImportRule(),
    },
  },
  // The one exception to the driver rule: each adapter folder may import its own driver.
  {
    files: ['src/eventsourcing/postgres/**/*.ts'],
    rules: { 'no-restricted-imports': srcImportRule(['pg']) },
  },
  {
    files: ['src/eventsourcing/pglite/**/*.ts'],
    rules: { 'no-restricted-imports': srcImportRule(['@electric-sql/pglite']) },
  },
  {
    files: ['src/messaging/redis/**/*.ts'],
    rules: { 'no-restricted-imports': srcImportRule(['redis']) },
  },
  {
    files: ['src/messaging/kafka/**/*.ts'],
    rules: { 'no-restricted-imports': srcImportRule(['kafkajs']) },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: DRIVERS.map((name) => ({ name, message: 'core never imports a driver.' })),
          patterns: [
            {
              group: [
                '../metadata/**',
                '../container/**',
                '../cqrs/**',
                '../events/**',
                '../testing/**',
                '../*/*/**',
              ],
              message: 'core depends on nothing else in Potter (ARCHITECTURE.md §2).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/metadata/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: DRIVERS.map((name) => ({ name, message: 'metadata never imports a driver.' })),
          patterns: [
            {
              group: ['../container/**', '../cqrs/**', '../events/**', '../testing/**'],
              message: 'metadata depends only on core (ARCHITECTURE.md §2).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'examples/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { ...globals.node } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
);
