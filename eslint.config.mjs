// ESLint (flat config): typescript-eslint's type-checked rules on the TypeScript of every project
// (the pack, runner, simulator, test, bench), the plain JS rules on the few CommonJS entry files,
// core/ reached only through its index, and eslint-config-prettier last, so that Prettier alone owns the layout.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/', '**/node_modules/', 'test/fixtures/', '.tmp/', 'bench/out/', 'aiware-sim-out/'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked, ...tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `import x = require()` is TypeScript's typed import of an `export =` module (the Node-RED node modules); bare require() stays flagged.
      '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }],
      // `const node = this` is Node-RED's documented idiom in a node's constructor.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['node'] }],
      // `s || fallback` on strings is meant: an empty environment variable or editor field counts as unset.
      '@typescript-eslint/prefer-nullish-coalescing': ['error', { ignorePrimitives: { string: true } }],
      // reject(err) in a catch passes the caught value on unchanged; it invents no non-Error reason.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    // Outside core/, the pack's own code imports core through its public surface (core/index.ts).
    files: ['nodes/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)core/.', message: 'import core through core/index.ts' }] }] },
  },
  {
    files: ['**/*.js', '**/*.mjs', 'simulator/bin/aiware-sim'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly' } },
  },
  { files: ['**/*.js', 'simulator/bin/aiware-sim'], languageOptions: { sourceType: 'commonjs', globals: { __dirname: 'readonly' } } },
  prettier,
);
