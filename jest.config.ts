import type { Config } from 'jest';

const tsJest: Config['transform'] = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: { warnOnly: false } }],
};

// Tests import Potter through its public entry points, as users do.
const moduleNameMapper: Config['moduleNameMapper'] = {
  '^potter$': '<rootDir>/src/index.ts',
  '^potter/testing$': '<rootDir>/src/testing/index.ts',
  '^potter/postgres$': '<rootDir>/src/postgres.ts',
  '^potter/pglite$': '<rootDir>/src/pglite.ts',
  '^potter/redis$': '<rootDir>/src/redis.ts',
  '^potter/kafka$': '<rootDir>/src/kafka.ts',
};

function project(displayName: string, testMatch: string[], extra: Config = {}): Config {
  return { displayName, testEnvironment: 'node', transform: tsJest, moduleNameMapper, testMatch, ...extra };
}

const config: Config = {
  rootDir: '.',
  projects: [
    project('unit', ['<rootDir>/test/unit/**/*.unit.spec.ts']),
    project('integration', ['<rootDir>/test/integration/**/*.int.spec.ts']),
    project('e2e', ['<rootDir>/test/e2e/**/*.e2e.spec.ts']),
    project('fault', ['<rootDir>/test/fault/**/*.fault.spec.ts']),
  ],
};

export default config;
