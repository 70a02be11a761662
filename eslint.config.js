// ESLint: typescript-eslint's strict type-checked rules on the TypeScript sources (no `any`, no
// unsafe calls or member access on untyped values), ESLint's recommended rules on the scripts.
// Formatting is Prettier's job (.prettierrc), so no stylistic rules here.
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default defineConfig(
  { ignores: ['dist/', 'build/', 'node_modules/', '.cache/', 'runs/'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: globals.node,
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
