// The three packages as their users get them: each packed tarball installed into an empty folder
// with --omit=dev, as a palette install and the image do. The palette pack alone registers its
// nodes and brings nothing of the runner or the CLI; the image's install (replayed from the
// Dockerfile) starts an engine and answers through it; the simulator's tarball, installed alone
// as an engine author installs it, is a library with types and a CLI that runs an example engine
// to the end. No tarball runs a script of the repository's.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { RunnerProcess, ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { NODE_TYPES } from '../../nodes/shared/types';
import { packPackage } from '../../scripts/pack';
import { commands, entrypoint, env, stage } from '../support/dockerfile';

const run = promisify(execFile);

interface Manifest {
  name: string;
  version: string;
  main: string;
  types: string;
  bin?: Record<string, string>;
  'node-red'?: { nodes: Record<string, string>; version: string };
  engines: { node: string };
  scripts?: Record<string, string>;
  workspaces?: string[];
  bundleDependencies?: string[];
  keywords?: string[];
  license: string;
  repository?: { url: string };
  bugs?: { url: string };
  dependencies: Record<string, string>;
}

interface Packed {
  dir: string;
  manifest: Manifest;
  tarball: string;
  files: string[];
  bundled: string[];
}

const PACKAGES = { pack: '.', runner: 'runner', simulator: 'simulator' } as const;
type PackageKey = keyof typeof PACKAGES;

/** What only the runner and the CLI load: a palette install must not bring any of it. */
const NOT_IN_PALETTE = ['node-red', 'pino', 'prom-client', 'commander', 'cli-progress', 'express', 'busboy'];

async function npmInstall(dir: string, args: string[], extraEnv: Record<string, string> = {}): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...args], { cwd: dir, env: { ...process.env, ...extraEnv }, maxBuffer: 16 * 1024 * 1024 });
}

/** The packages npm installed under `dir`, by name (nested copies included). */
function installed(dir: string): string[] {
  const lock = JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', '.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  return Object.keys(lock.packages).map((key) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length));
}

describe('the packages as installed', function () {
  this.timeout(300_000);
  let work: string;
  const packed = {} as Record<PackageKey, Packed>;

  before(async function () {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-packages-'));
    // The build has just run (npm test builds first): pack each package as it is, as the image's build does.
    for (const [key, dir] of Object.entries(PACKAGES) as [PackageKey, string][]) {
      const result = packPackage(key, work);
      const manifest = JSON.parse((await run('tar', ['-xOzf', result.tarball, 'package/package.json'])).stdout) as Manifest;
      packed[key] = { dir: path.join(PACK_DIR, dir), manifest, tarball: result.tarball, files: result.files, bundled: result.bundled };
    }
  });

  after(function () {
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('the palette pack declares what the Node-RED palette and its scorecard ask for', function () {
    const { manifest } = packed.pack;
    assert.match(manifest.name, /^@[a-z0-9-]+\/node-red-/);
    assert.ok(manifest.keywords?.includes('node-red') && manifest.keywords.includes('aiware'));
    assert.ok(manifest['node-red']?.version);
    assert.deepEqual(Object.keys(manifest['node-red'].nodes).sort(), Object.values(NODE_TYPES).sort());
  });

  for (const key of Object.keys(PACKAGES) as PackageKey[]) {
    it(`${key}: a working main with types, licence, engines, repository and bugs, and no tests or sources`, function () {
      const { manifest, files } = packed[key];
      for (const field of [manifest.main, manifest.types]) assert.ok(files.includes(path.posix.normalize(field)), `${field} is in the tarball`);
      assert.ok(manifest.license && manifest.engines.node && manifest.repository?.url && manifest.bugs?.url);
      assert.ok(!files.some((f) => f.includes('test/') || (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.endsWith('.tsbuildinfo')), files.join(', '));
      for (const bin of Object.values(manifest.bin ?? {})) assert.ok(files.includes(path.posix.normalize(bin)), `bin ${bin}`);
      for (const [name, spec] of Object.entries(manifest.dependencies)) assert.ok(!spec.startsWith('file:'), `${name}@${spec}: an install from the registry cannot resolve a path`);
    });
  }

  it('no packed manifest runs a script: nothing to build on install (no prepare), nothing that needs the repository', function () {
    for (const key of Object.keys(PACKAGES) as PackageKey[]) {
      const { manifest } = packed[key];
      assert.deepEqual(manifest.scripts, undefined, `${manifest.name}: ${JSON.stringify(manifest.scripts)}`);
      assert.equal(manifest.workspaces, undefined, `${manifest.name} names workspaces it does not hold`);
    }
  });

  it('the palette pack holds each node compiled beside its .html and messages, the examples, and no runner or CLI code', function () {
    const { manifest, files } = packed.pack;
    for (const [type, file] of Object.entries(manifest['node-red']!.nodes)) {
      const dir = path.posix.dirname(file);
      assert.ok(files.includes(file), `${file} is in the tarball`);
      assert.ok(files.includes(`${dir}/${type}.html`), `${type}.html beside it`);
      assert.ok(files.includes(`${dir}/locales/en-US/${type}.json`), `${type}'s messages`);
    }
    assert.ok(
      files.some((f) => f.startsWith('examples/') && f.endsWith('.json')),
      'the examples',
    );
    assert.ok(
      files.some((f) => f.startsWith('samples/')),
      "the examples' sample inputs",
    );
    assert.ok(!files.some((f) => f.startsWith('dist/test/') || f.includes('puppeteer')), 'no test or browser code');
    assert.ok(!files.some((f) => /^(dist\/)?(runner|simulator|bench)\//.test(f)), 'no runner, simulator or bench code');
    for (const name of NOT_IN_PALETTE) assert.equal(manifest.dependencies[name], undefined, `${name} is not a dependency of the pack`);
  });

  it('a palette install brings only what the nodes load, requires as a library, and registers every node type', async function () {
    const userDir = path.join(work, 'palette');
    fs.mkdirSync(userDir);
    fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
    await npmInstall(userDir, ['--omit=dev', packed.pack.tarball]);
    const names = installed(userDir);
    for (const name of NOT_IN_PALETTE) assert.ok(!names.includes(name), `a palette install brings ${name}`);
    // The library: the protocol core and the handle a host gives Node-RED.
    const script = `const pack = require('${packed.pack.manifest.name}'); console.log(JSON.stringify({ handle: typeof pack.RuntimeHandle, registry: typeof pack.TaskRegistry, reasons: pack.FAILURE_REASONS.length }))`;
    const { stdout: library } = await run(process.execPath, ['-e', script], { cwd: userDir });
    assert.deepEqual(JSON.parse(library), { handle: 'function', registry: 'function', reasons: 20 });
    const { stdout } = await run(process.execPath, [path.join(__dirname, '..', 'support', 'list-node-types.js'), userDir], { cwd: work });
    const sets = JSON.parse(stdout) as { module: string; types: string[]; err?: string }[];
    const ours = sets.filter((s) => s.module === packed.pack.manifest.name);
    assert.ok(ours.length > 0, `not loaded: ${JSON.stringify(sets.map((s) => s.module))}`);
    for (const set of ours) assert.equal(set.err, undefined, `${set.types.join(', ')}: ${set.err}`);
    assert.deepEqual(ours.flatMap((s) => s.types).sort(), Object.values(NODE_TYPES).sort());
  });

  it("the image's install, replayed from the Dockerfile, starts an engine from its entry and answers through it", async function () {
    const local = stage('local');
    // /packs holds what the build stage packs: the pack and the runner.
    const packs = path.join(work, 'packs');
    fs.mkdirSync(packs);
    for (const key of ['pack', 'runner'] as const) fs.copyFileSync(packed[key].tarball, path.join(packs, path.basename(packed[key].tarball)));
    const install = commands(local).find((c) => c.startsWith('npm install '))!;
    const args = install
      .split(/\s+/)
      .slice(2)
      .flatMap((word) => (word === '/packs/*.tgz' ? fs.readdirSync(packs).map((f) => path.join(packs, f)) : [word]));
    const app = path.join(work, 'app');
    const imageEnv = env(local);
    await npmInstall(app, args, { NODE_ENV: imageEnv.NODE_ENV });
    assert.ok(installed(app).includes('node-red'), 'node-red is installed because the runner depends on it');

    // The image's command: node, its flags, main.js.
    const [, ...flags] = entrypoint(local);
    const main = flags.pop()!;
    const toolkit = await ToolkitEmulator.start();
    const runner = RunnerProcess.start({
      script: path.join(app, main),
      execArgv: flags,
      cwd: app,
      runtimeFile: path.join(app, 'node_modules', packed.pack.manifest.name, 'examples', 'chunk-text-to-transcript.json'),
      workDir: path.join(work, 'engine-work'),
      env: {
        ...imageEnv,
        VERITONE_WEBHOOK_PROCESS: imageEnv.VERITONE_WEBHOOK_PROCESS.replace('0.0.0.0:8888', '127.0.0.1:0'),
        VERITONE_WEBHOOK_READY: imageEnv.VERITONE_WEBHOOK_READY.replace('0.0.0.0:8888', '127.0.0.1:0'),
      },
    });
    try {
      const url = await runner.ready(60_000);
      const answer = await toolkit.process(`${url}/process`, toolkit.workItem(), { data: 'from the image', mimeType: 'text/plain' });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.match(JSON.stringify(answer.body), /image/);
      runner.signal('SIGTERM');
      assert.equal(await runner.waitExit(), 0);
    } finally {
      await runner.kill();
      await toolkit.stop();
    }
  });

  it('the simulator bundles the pack and the runner as packed, and names their dependencies as its own, in a tarball of reasonable size', function () {
    const { manifest, bundled, tarball } = packed.simulator;
    const inner = [packed.pack.manifest, packed.runner.manifest];
    assert.deepEqual([...bundled].sort(), inner.map((m) => m.name).sort());
    assert.deepEqual([...(manifest.bundleDependencies ?? [])].sort(), inner.map((m) => m.name).sort());
    for (const { name, version, dependencies } of inner) {
      assert.equal(manifest.dependencies[name], version, `${name} is the bundled version`);
      // npm installs no dependency of a bundled package: the simulator's own bring them.
      for (const [dependency, spec] of Object.entries(dependencies)) if (!bundled.includes(dependency)) assert.equal(manifest.dependencies[dependency], spec, `${name} needs ${dependency}`);
    }
    const size = fs.statSync(tarball).size;
    assert.ok(size < 2 * 1024 * 1024, `${path.basename(tarball)} is ${size} bytes: no dependency of theirs is bundled`);
  });

  it('the simulator installed alone: aiware-sim --version, its library drives its runner, and aiware-sim runs an example to exit 0', async function () {
    const dir = path.join(work, 'sim');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'my-engine', private: true }));
    // As an engine author installs it: the one tarball, from an empty folder (npm would fetch the pack and the runner from the registry, where they are not).
    await npmInstall(dir, ['--omit=dev', packed.simulator.tarball]);
    const sim = path.join(dir, 'node_modules', packed.simulator.manifest.name);
    assert.ok(fs.existsSync(path.join(sim, packed.simulator.manifest.types)), 'the library has types');
    assert.ok(installed(dir).includes('node-red'), "the runner's node-red is installed");
    const version = await run(path.join(dir, 'node_modules', '.bin', 'aiware-sim'), ['--version'], { cwd: dir });
    assert.equal(version.stdout.trim(), packed.simulator.manifest.version);

    const bundledDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`, { paths: [sim] }));
    const example = path.join(bundledDir(packed.pack.manifest.name), 'examples', 'chunk-text-to-transcript.json');
    // The library as a user's test would use it: an emulator and the runner it finds installed.
    const script = `
      const { ToolkitEmulator, RunnerProcess } = require('${packed.simulator.manifest.name}');
      (async () => {
        const toolkit = await ToolkitEmulator.start();
        const runner = RunnerProcess.start({ runtimeFile: ${JSON.stringify(example)} });
        try {
          const url = await runner.ready(60000);
          const answer = await toolkit.process(url + '/process', toolkit.workItem(), { data: 'installed words', mimeType: 'text/plain' });
          console.log(JSON.stringify({ status: answer.status, body: answer.body, script: runner.child.spawnargs.at(-1) }));
        } finally {
          await runner.stop();
          await toolkit.stop();
        }
      })().catch((err) => { console.error(err); process.exitCode = 1; });`;
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: dir });
    const seen = JSON.parse(stdout) as { status: number; body: unknown; script: string };
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    assert.match(JSON.stringify(seen.body), /installed/);
    assert.equal(fs.realpathSync(seen.script), fs.realpathSync(path.join(sim, 'node_modules', packed.runner.manifest.name, 'main.js')), 'the runner it brought');

    const inputs = path.join(dir, 'inputs');
    fs.mkdirSync(inputs);
    fs.writeFileSync(path.join(inputs, 'one.txt'), 'hello from an installed simulator');
    const cli = await run(path.join(dir, 'node_modules', '.bin', 'aiware-sim'), ['run', '--runtime', example, '--out', path.join(dir, 'out'), inputs], { cwd: dir });
    assert.match(cli.stdout, /1 (task|chunk)/);

    // `aiware-sim test` with its schema, YAML and diff as installed, on the example's test file the pack ships.
    const tests = await run(path.join(dir, 'node_modules', '.bin', 'aiware-sim'), ['test', path.join(bundledDir(packed.pack.manifest.name), 'samples', 'chunk-text-to-transcript')], { cwd: dir });
    assert.match(tests.stdout, /\n\d+ passed, 0 failed\n/);
  });
});
