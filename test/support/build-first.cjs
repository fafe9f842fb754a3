// Mocha runs the compiled tests (dist/test/), so its settings build first: `tsc -b` (a no-op, a
// fraction of a second, when nothing changed; the whole build from a clean tree) and the nodes'
// HTML and locales beside their compiled files, as `npm run build` does. The files to run are
// named from the sources, so a compiled test whose source was moved or deleted is never run.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

/** Brings dist/ up to date with the sources, or exits naming what to do. */
function buildFirst() {
  try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b'], { cwd: ROOT, stdio: 'inherit' });
    execFileSync(process.execPath, [path.join(ROOT, 'dist', 'scripts', 'copy-assets.js')], { cwd: ROOT, stdio: 'inherit' });
  } catch {
    console.error('mocha: the tests could not be built (tsc -b, above): fix the error, or run `npm run build` to see it again');
    process.exit(1);
  }
}

/** The compiled file of every test source under test/`under` whose name ends in `suffix` (.test.ts), in path order. */
function specsOf(under, suffix) {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'fixtures') walk(file);
      } else if (entry.name.endsWith(suffix)) {
        found.push(path.join('dist', path.relative(ROOT, file)).replace(/\.ts$/, '.js'));
      }
    }
  };
  walk(path.join(ROOT, 'test', under));
  return found.sort();
}

/** Options of mocha's whose value may be a file: that value names no test to run. */
const TAKES_A_FILE = new Set(['--require', '-r', '--config', '--file', '--ignore', '--exclude', '--package', '--reporter', '-R', '--reporter-option', '-O', '--extension']);

/**
 * `specs`, unless the command line names test files itself (mocha adds those to the settings'
 * `spec`, so `npx mocha dist/test/core/body/reader.test.js` would run everything).
 */
function unlessNamed(specs, argv = process.argv.slice(2)) {
  const named = argv.some((arg, i) => !arg.startsWith('-') && !TAKES_A_FILE.has(argv[i - 1]) && /\.[cm]?js$/.test(arg));
  return named || argv.includes('--spec') ? [] : specs;
}

module.exports = { buildFirst, specsOf, unlessNamed };
