// The package as the palette installs it: `npm pack` holds the compiled nodes beside their
// .html (a registry install runs no build), and a fresh Node-RED user directory that installs
// the tarball registers every node type.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../runner/embedded';
import { NODE_TYPES } from '../nodes/shared/types';

const run = promisify(execFile);
const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  'node-red': { nodes: Record<string, string>; version: string };
  engines: { node: string };
  keywords: string[];
  license: string;
};

describe('the package', function () {
  this.timeout(180_000);
  let work: string;
  let tarball: string;
  let files: string[];

  before(async function () {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-pack-'));
    // The build has just run (npm test builds first): pack it as it is.
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: PACKAGE_ROOT });
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    tarball = path.join(work, path.basename(packed.filename));
    files = packed.files.map((f) => f.path);
  });

  after(function () {
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('declares what the Node-RED palette and its scorecard ask for', function () {
    assert.match(pkg.name, /^@[a-z0-9-]+\/node-red-/);
    assert.ok(pkg.keywords.includes('node-red') && pkg.keywords.includes('aiware'));
    assert.ok(pkg['node-red'].version);
    assert.ok(pkg.engines.node);
    assert.ok(pkg.license);
    assert.deepEqual(Object.keys(pkg['node-red'].nodes).sort(), Object.values(NODE_TYPES).sort());
  });

  it('packs each node compiled beside its .html and messages, and no tests', function () {
    for (const [type, file] of Object.entries(pkg['node-red'].nodes)) {
      const dir = path.posix.dirname(file);
      assert.ok(files.includes(file), `${file} is in the tarball`);
      assert.ok(files.includes(`${dir}/${type}.html`), `${type}.html beside it`);
      assert.ok(files.includes(`${dir}/locales/en-US/${type}.json`), `${type}'s messages`);
    }
    assert.ok(files.some((f) => f.startsWith('examples/') && f.endsWith('.json')), 'the examples');
    assert.ok(!files.some((f) => f.startsWith('dist/test/') || f.endsWith('.ts')), 'no tests or sources');
  });

  it('installs into a fresh Node-RED user directory and registers every node type', async function () {
    const userDir = path.join(work, 'user');
    fs.mkdirSync(userDir);
    fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=dev', tarball], { cwd: userDir });
    const { stdout } = await run(process.execPath, [path.join(__dirname, 'support', 'list-node-types.js'), userDir], { cwd: work });
    const sets = JSON.parse(stdout) as { module: string; types: string[]; enabled: boolean; err?: string }[];
    const ours = sets.filter((s) => s.module === pkg.name);
    assert.ok(ours.length > 0, `${pkg.name} was not loaded: ${JSON.stringify(sets.map((s) => s.module))}`);
    for (const set of ours) assert.equal(set.err, undefined, `${set.types.join(', ')}: ${set.err}`);
    assert.deepEqual(ours.flatMap((s) => s.types).sort(), Object.values(NODE_TYPES).sort());
  });
});
