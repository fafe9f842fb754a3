// The core's public surface (core/index.ts), and where its tests live: each module of core/ has a
// test file of its own at the same path under test/core/, so a maintainer of core/x/y.ts finds
// test/core/x/y.test.ts. Story suites (an engine, the runner, the CLI) stay in test/.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as core from '../../core';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Files under `dir` (relative to it) whose names end in `suffix`. */
function filesUnder(dir: string, suffix: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith(suffix))
    .map((file) => file.split(path.sep).join('/'))
    .sort();
}

describe('the core and its tests (core/index.ts)', function () {
  const modules = filesUnder(path.join(ROOT, 'core'), '.ts').filter((file) => !file.endsWith('.d.ts'));
  const tests = filesUnder(path.join(ROOT, 'test', 'core'), '.test.ts');

  it('has a test file of its own for every module, at the same path under test/core/', function () {
    assert.ok(modules.length >= 40, `only ${modules.length} modules found`);
    const missing = modules.filter((file) => file !== 'index.ts' && !tests.includes(file.replace(/\.ts$/, '.test.ts')));
    assert.deepEqual(missing, [], `no test/core/<path>.test.ts for: ${missing.join(', ')}`);
  });

  it('has no test file under test/core/ for a module that is not there (moved or removed)', function () {
    const orphans = tests.filter((file) => !modules.includes(file.replace(/\.test\.ts$/, '.ts')));
    assert.deepEqual(orphans, []);
  });

  it('gives the library to require() from one place, none of its exports undefined', function () {
    const exported = Object.entries(core);
    assert.ok(exported.length > 100, `${exported.length} exports`);
    assert.deepEqual(
      exported.filter(([, value]) => value === undefined).map(([name]) => name),
      [],
    );
    for (const name of ['parseProcessFields', 'readProcessBody', 'TaskRegistry', 'PauseService', 'RuntimeHandle', 'validateVtn'])
      assert.equal(typeof core[name as keyof typeof core], 'function', name);
  });
});
