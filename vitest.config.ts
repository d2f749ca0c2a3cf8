import { defineConfig } from 'vitest/config';

const pkg = (name: string, extra: Record<string, unknown> = {}) => ({
  test: { name, root: `packages/${name}`, include: ['src/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 60_000, ...extra },
});

export default defineConfig({
  test: {
    projects: [
      pkg('config'),
      pkg('observability'),
      pkg('db'),
      pkg('kv'),
      pkg('audit'),
      pkg('auth-server'),
      pkg('docs-api'),
      pkg('cli'),
      { test: { name: 'e2e', root: 'test', include: ['**/*.test.ts'], exclude: ['node_modules/**'], testTimeout: 120_000, hookTimeout: 120_000 } },
    ],
  },
});
