// `aiware-sim new`, as a new engine author meets it: the repository it writes for each engine type
// passes its own tests and its build runtime passes the check; it never writes into someone's
// folder; and docs/first-engine.md, run block by block as written, takes an empty folder to a tested
// and checked engine with the simulator installed from its packed tarball, with no network.
import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SIM_CLI as CLI } from './support/sim-cli';
import { promisify } from 'node:util';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { packPackage } from '../scripts/pack';

const run = promisify(execFile);
const GUIDE = path.join(PACK_DIR, 'docs', 'first-engine.md');
/** Where the guide says the simulator's tarball is: the test puts its own there instead. */
const GUIDE_PACKS = '/tmp/packs/';

/** The guide's commands: every ```sh block, in order. */
export function shBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1].trimEnd());
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A bash script to its end, with what it printed. */
function bash(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

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

  it('the first-engine guide, run as written: every ```sh block exits 0, the simulator installed from its packed tarball with no network', async function () {
    this.timeout(300000);
    const packs = path.join(work, 'packs');
    fs.mkdirSync(packs);
    packPackage('simulator', packs);
    const blocks = shBlocks(fs.readFileSync(GUIDE, 'utf8'));
    assert.ok(blocks.length >= 5, `the guide has ${blocks.length} sh blocks`);
    const folder = path.join(work, 'guide');
    fs.mkdirSync(folder);
    // One shell, so that `cd` carries on; each block announced, so a failure names its block.
    const script = ['set -e', ...blocks.flatMap((block, i) => [`echo "::block ${i + 1}" >&2`, block.replaceAll(GUIDE_PACKS, `${packs}/`)])].join('\n');
    // npm installs from its cache only (the repository's `npm ci` filled it): no network.
    const ran = await bash(script, folder, { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', NO_COLOR: '1' });
    const failedBlock = [...ran.stderr.matchAll(/::block (\d+)/g)].at(-1)?.[1];
    assert.equal(
      ran.code,
      0,
      `block ${failedBlock} of docs/first-engine.md exited ${ran.code}:\n${blocks[Number(failedBlock) - 1]}\n--- stdout\n${ran.stdout.slice(-3000)}\n--- stderr\n${ran.stderr.slice(-3000)}`,
    );
    assert.match(ran.stdout, /\n\d+ passed, 0 failed\n/);
    assert.match(ran.stdout, /build\/runtime\.json: ok/);
    assert.ok(fs.existsSync(path.join(folder, 'my-engine', 'reports', 'engine.xml')), 'the JUnit report CI keeps');
  });
});
