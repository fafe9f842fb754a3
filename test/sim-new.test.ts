// `aiware-sim new`, as a new engine author meets it: the repository it writes for each engine type
// passes its own tests and its build runtime passes the check; and it never writes into someone's
// folder. docs/first-engine.md, run as written, is test/compat/first-engine.compat.ts.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SIM_CLI as CLI } from './support/sim-cli';
import { promisify } from 'node:util';

const run = promisify(execFile);
describe('aiware-sim new', function () {
  this.timeout(120000);
  let work: string;

  beforeEach(function () {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-sim-new-'));
  });

  afterEach(function () {
    fs.rmSync(work, { recursive: true, force: true });
  });

  for (const engineType of ['chunk', 'stream', 'batch']) {
    it(`writes a ${engineType} engine that runs (npm start), passes its own tests and whose build runtime passes the check`, async function () {
      const dir = path.join(work, `my-${engineType}-engine`);
      const made = await run(process.execPath, [CLI, 'new', dir, '--engine-type', engineType]);
      assert.match(made.stdout, new RegExp(`a ${engineType} engine, my-${engineType}-engine`));
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(manifest, { name: `my-${engineType}-engine`, engineMode: engineType, runtime: 'nodeRed' });
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { scripts: Record<string, string>; devDependencies: Record<string, string> };
      assert.equal(pkg.devDependencies['@aiware-nodered/aiware-sim'], '^0.1.0');
      assert.equal(pkg.scripts.test, 'aiware-sim test');
      assert.match(fs.readFileSync(path.join(dir, '.github', 'workflows', 'engine.yml'), 'utf8'), /node-version: 24[\s\S]*npm ci[\s\S]*--junit reports\/engine\.xml[\s\S]*upload-artifact/);

      // `npm start`, as its script says, on the engine's own samples.
      const start = pkg.scripts.start.split(' ');
      assert.equal(start[0], 'aiware-sim');
      const started = await run(process.execPath, [CLI, ...start.slice(1), '--out', path.join(work, 'out')], { cwd: dir });
      assert.match(started.stdout, /\d+ tasks?, \d+ ok, 0 failed/);

      await run(process.execPath, ['scripts/build-runtime.js'], { cwd: dir });
      const tested = await run(process.execPath, [CLI, 'test'], { cwd: dir });
      assert.match(tested.stdout, /\n\d+ passed, 0 failed\n/);
      const checked = await run(process.execPath, [CLI, 'check', 'build/runtime.json', '--manifest', 'manifest.json'], { cwd: dir });
      assert.match(checked.stdout, /build\/runtime\.json: ok \(.*manifest manifest\.json\)/);
    });
  }

  it('refuses a folder that is not empty with one line and exit 2, and writes nothing', async function () {
    fs.writeFileSync(path.join(work, 'notes.txt'), 'mine');
    const refused = await run(process.execPath, [CLI, 'new', work]).then(
      () => assert.fail('it wrote into a folder that was not empty'),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /^aiware-sim new: .* is not empty \(1 entries\): give a new or empty folder, nothing was written\n$/);
    assert.deepEqual(fs.readdirSync(work), ['notes.txt']);
  });
});
