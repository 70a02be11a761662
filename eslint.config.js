// ESLint: typescript-eslint's strict type-checked rules on the TypeScript sources (no `any`, no
// unsafe calls or member access on untyped values), ESLint's recommended rules on the scripts.
// Formatting is Prettier's job (.prettierrc), so no stylistic rules here.
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default defineConfig(
  // src/tensor/ops.generated.ts is written by scripts/gen-ops.mjs from native/ops.table.
  { ignores: ['dist/', 'build/', 'node_modules/', '.cache/', 'runs/', 'test-artifacts/', 'fuzz-findings/', 'src/tensor/ops.generated.ts'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: globals.node,
    },
    rules: {
      // Numbers and booleans read well in messages ('got ${n}'); objects, nullish and any stay refused.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // With noUncheckedIndexedAccess, `a[i]!` after a bounds check is how this code states a known index.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `(x) => log(x)` passes a void result through an arrow shorthand on purpose (callbacks).
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // Commands implement Command.run(): Promise<number> and image sources AsyncIterable: a body
      // that happens not to await stays async, so that its throws reject like everyone else's.
      '@typescript-eslint/require-await': 'off',
      // node:test's test() and describe() return promises that the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
    },
  },
  {
    // W. J. Cody's rational-approximation coefficients, kept digit for digit as published; each
    // literal means the double nearest to it, which is what the approximation was designed with.
    files: ['src/method/erf.ts'],
    rules: { 'no-loss-of-precision': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
