// The first-engine guide (docs/first-engine.md) run as written: every ```sh block in one shell, the
// simulator installed from its packed tarball as an engine author installs it, npm offline (the
// repository's `npm ci` filled its cache). With the matrix, as it installs what users install; about
// 35 s, which the main suite's 5 minutes do not have room for.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { packPackage } from '../../scripts/pack';

const GUIDE = path.join(PACK_DIR, 'docs', 'first-engine.md');
/** Where the guide says the simulator's tarball is: the test puts its own there instead. */
const GUIDE_PACKS = '/tmp/packs/';

/** The guide's commands: every ```sh block, in order. */
function shBlocks(markdown: string): string[] {
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

describe('docs/first-engine.md', function () {
  let work: string;

  beforeEach(function () {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-first-engine-'));
  });

  afterEach(function () {
    fs.rmSync(work, { recursive: true, force: true });
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
