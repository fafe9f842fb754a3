// A build's extra node packages, as an organisation's engines meet them: the first start installs
// them into the share folder, later starts reuse them without npm, engines starting together
// install once, and failed or crashed installs leave nothing that blocks the next start.
// Offline: the packages are tarballs packed from test/fixtures/modules/, npm is a wrapper script
// that counts its runs and points the registry at a closed loopback port.
import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { COMPLETE_MARKER, MODULES_FOLDER, ModuleInstallError, ensureModules, moduleSetKey, redactSecrets, type ModuleLog } from '@aiware-nodered/node-red-runner/dist/modules';

const run = promisify(execFile);
const FIXTURES = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'modules');
const UPPER = 'node-red-contrib-fixture-upper';
const LOWER = 'node-red-contrib-fixture-lower';

interface LogLine {
  level: 'info' | 'warn';
  obj: object;
  msg: string;
}

function recordingLog(): ModuleLog & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
  };
}

describe('extra node packages in the share folder', function () {
  this.timeout(120_000);
  let work: string;
  let upperTgz: string;
  let lowerTgz: string;
  let shares = 0;

  /** A fresh AIWARE_AUTOMATE_SHARE_FOLDER (not created: ensureModules makes what it needs). */
  const newShare = (): string => path.join(work, `share-${++shares}`);

  /** An npm that appends a line to `calls` per run, then runs `body` (default: the real npm, offline). */
  function fakeNpm(name: string, body = 'exec npm "$@"'): { npm: string; calls: () => string[] } {
    const npm = path.join(work, 'bin', name);
    const log = path.join(work, 'bin', `${name}.calls`);
    fs.writeFileSync(
      npm,
      [
        '#!/bin/sh',
        `echo "$$ $*" >> '${log}'`,
        // Nothing may leave the machine: a registry on a closed loopback port, offline, own cache.
        'export npm_config_registry=http://127.0.0.1:9/',
        'export npm_config_offline=true',
        `export npm_config_cache='${path.join(work, 'npm-cache')}'`,
        body,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    return { npm, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []) };
  }

  /** What is in `<share>/nodered-modules/` besides complete sets: temp folders and locks. */
  const leftovers = (share: string): string[] => {
    const root = path.join(share, MODULES_FOLDER);
    return fs.existsSync(root) ? fs.readdirSync(root).filter((e) => e.includes('.tmp-') || e.endsWith('.lock')) : [];
  };

  before(async function () {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-modules-'));
    fs.mkdirSync(path.join(work, 'bin'));
    const packs = path.join(work, 'packs');
    fs.mkdirSync(packs);
    const pack = async (name: string): Promise<string> => {
      const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packs], { cwd: path.join(FIXTURES, name) });
      const [packed] = JSON.parse(stdout) as { filename: string }[];
      return path.join(packs, path.basename(packed.filename));
    };
    [upperTgz, lowerTgz] = await Promise.all([pack(UPPER), pack(LOWER)]);
  });

  after(function () {
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('installs local tarballs once into a folder named by the set, marked complete', async function () {
    const share = newShare();
    const { npm, calls } = fakeNpm('npm-first');
    const log = recordingLog();
    const result = await ensureModules({ modules: { [UPPER]: upperTgz, [LOWER]: lowerTgz }, shareFolder: share, npm, log });

    assert.equal(result.installed, true);
    const key = await moduleSetKey({ [LOWER]: lowerTgz, [UPPER]: upperTgz });
    assert.match(key, /^[0-9a-f]{16}$/);
    assert.equal(result.dir, path.join(share, MODULES_FOLDER, key));
    for (const name of [UPPER, LOWER]) {
      const pkg = JSON.parse(fs.readFileSync(path.join(result.dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
      assert.equal(pkg.version, '1.0.0');
    }
    const marker = JSON.parse(fs.readFileSync(path.join(result.dir, COMPLETE_MARKER), 'utf8')) as { key: string; versions: Record<string, string> };
    assert.equal(marker.key, key);
    assert.deepEqual(marker.versions, { [LOWER]: '1.0.0', [UPPER]: '1.0.0' });
    assert.equal(calls().length, 1, 'npm ran once');
    assert.deepEqual(fs.readdirSync(path.join(share, MODULES_FOLDER)), [key], 'no temp folder, no lock');
    assert.ok(log.lines.some((l) => l.msg.includes('installed the set')));
  });

  it('reuses a complete folder on the next start without running npm', async function () {
    const share = newShare();
    const good = fakeNpm('npm-reuse-good');
    const first = await ensureModules({ modules: { [UPPER]: upperTgz }, shareFolder: share, npm: good.npm });
    // Any npm run now fails the test: the wrapper records the call and exits 1.
    const broken = fakeNpm('npm-reuse-broken', 'echo "npm must not run" >&2; exit 1');
    const started = Date.now();
    // The same tarball named relative to the runtime file's folder is the same set.
    const again = await ensureModules({ modules: { [UPPER]: `./${path.basename(upperTgz)}` }, baseDir: path.dirname(upperTgz), shareFolder: share, npm: broken.npm });
    assert.deepEqual(again, { dir: first.dir, installed: false });
    assert.deepEqual(broken.calls(), [], 'npm did not run');
    assert.ok(Date.now() - started < 1_000, `reuse took ${Date.now() - started} ms`);
  });

  it('gives the folder to Node-RED as nodesDir and its node types register', async function () {
    const share = newShare();
    const { npm } = fakeNpm('npm-nodered');
    const { dir } = await ensureModules({ modules: { [UPPER]: upperTgz }, shareFolder: share, npm });
    const script = path.join(work, 'list-types.js');
    fs.writeFileSync(
      script,
      `const http = require('node:http');
const RED = require(${JSON.stringify(require.resolve('node-red'))});
(async () => {
  const server = http.createServer();
  RED.init(server, { userDir: process.argv[2], nodesDir: [process.argv[3]], httpAdminRoot: false, httpNodeRoot: false, logging: { console: { level: 'off' } } });
  await RED.start();
  const sets = await RED.runtime.nodes.getNodeList({});
  process.stdout.write(JSON.stringify(sets.map((s) => ({ module: s.module, types: s.types, err: s.err }))));
  await RED.stop();
  server.close();
})().catch((err) => { console.error(err); process.exitCode = 1; });
`,
    );
    const userDir = fs.mkdtempSync(path.join(work, 'user-'));
    const { stdout } = await run(process.execPath, [script, userDir, dir!], { cwd: work });
    const sets = JSON.parse(stdout) as { module: string; types: string[]; err?: string }[];
    const fixture = sets.find((s) => s.module === UPPER);
    assert.ok(fixture, `${UPPER} was not loaded: ${JSON.stringify(sets.map((s) => s.module))}`);
    assert.equal(fixture.err, undefined);
    assert.deepEqual(fixture.types, ['fixture-upper']);
  });

  it('names a set by its content: order does not matter, a rebuilt tarball or another version does', async function () {
    const copy = path.join(work, 'rebuilt.tgz');
    fs.copyFileSync(upperTgz, copy);
    const base = await moduleSetKey({ [UPPER]: copy, [LOWER]: '^1.0.0' });
    assert.equal(await moduleSetKey({ [LOWER]: '^1.0.0', [UPPER]: copy }), base);
    assert.equal(await moduleSetKey({ [UPPER]: upperTgz, [LOWER]: '^1.0.0' }), base, 'same bytes, another path');
    assert.notEqual(await moduleSetKey({ [UPPER]: copy, [LOWER]: '^1.0.1' }), base);
    fs.appendFileSync(copy, Buffer.from([0]));
    assert.notEqual(await moduleSetKey({ [UPPER]: copy, [LOWER]: '^1.0.0' }), base);
  });

  it('touches nothing when the build names no modules', async function () {
    const share = newShare();
    assert.deepEqual(await ensureModules({ modules: {}, shareFolder: share }), { dir: undefined, installed: false });
    assert.equal(fs.existsSync(share), false);
  });

  it('installs once when two engines start at the same moment', async function () {
    const share = newShare();
    const { npm, calls } = fakeNpm('npm-race');
    const engine = path.join(work, 'engine.js');
    fs.writeFileSync(
      engine,
      `const { ensureModules } = require(${JSON.stringify(require.resolve('@aiware-nodered/node-red-runner/dist/modules'))});
const [shareFolder, tarball, npm, startAt] = process.argv.slice(2);
let waited = false;
const log = { info: (obj, msg) => { if (msg.includes('waiting')) waited = true; }, warn() {} };
setTimeout(() => {
  ensureModules({ modules: { ${JSON.stringify(UPPER)}: tarball }, shareFolder, npm, log }).then(
    (result) => process.stdout.write(JSON.stringify({ ...result, waited })),
    (err) => { console.error(err); process.exitCode = 1; },
  );
}, Number(startAt) - Date.now());
`,
    );
    // Both load first, then start on the same clock tick.
    const startAt = String(Date.now() + 1_500);
    const start = (): Promise<{ dir: string; installed: boolean; waited: boolean }> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [engine, share, upperTgz, npm, startAt], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { dir: string; installed: boolean; waited: boolean }) : reject(new Error(`engine exited ${code}: ${err}`))));
      });
    const results = await Promise.all([start(), start()]);

    assert.deepEqual(results.map((r) => r.installed).sort(), [false, true], 'exactly one installed');
    assert.equal(results[0].dir, results[1].dir);
    assert.equal(results.find((r) => !r.installed)!.waited, true, 'the other engine waited for the install, it did not come after it');
    assert.equal(calls().length, 1, `npm ran once: ${calls().join(' | ')}`);
    assert.ok(fs.existsSync(path.join(results[0].dir, COMPLETE_MARKER)));
    assert.deepEqual(leftovers(share), []);
  });

  it('reports a failed npm with its message, leaves nothing behind and releases the lock', async function () {
    const share = newShare();
    const failing = fakeNpm('npm-fails', `echo "npm error 404 Not Found - GET http://127.0.0.1:9/${LOWER}" >&2; exit 1`);
    const modules = { [UPPER]: upperTgz, [LOWER]: '^1.0.0' };
    const err = await ensureModules({ modules, shareFolder: share, npm: failing.npm }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ModuleInstallError, String(err));
    assert.equal(err.reason, 'install');
    assert.match(err.message, new RegExp(UPPER));
    assert.match(err.message, new RegExp(LOWER));
    assert.match(err.message, /npm exited with 1/);
    assert.match(err.stderrTail, /npm error 404 Not Found/);
    assert.deepEqual(err.modules, [`${LOWER}@^1.0.0`, `${UPPER}@file:${upperTgz}`]);
    assert.deepEqual(fs.readdirSync(path.join(share, MODULES_FOLDER)), [], 'no temp folder, no set, no lock');

    // The lock is free: a good start right after installs.
    const good = fakeNpm('npm-after-failure');
    const result = await ensureModules({ modules: { [UPPER]: upperTgz }, shareFolder: share, npm: good.npm, lockTimeoutMs: 5_000 });
    assert.equal(result.installed, true);
  });

  it('refuses a missing tarball or a bad name before touching the share folder', async function () {
    const share = newShare();
    const { npm, calls } = fakeNpm('npm-refused');
    const cases: { modules: Record<string, string>; reason: string; message: RegExp }[] = [
      { modules: { [UPPER]: path.join(work, 'nope.tgz') }, reason: 'tarball', message: /nope\.tgz does not exist/ },
      { modules: { [UPPER]: work }, reason: 'tarball', message: /is not a tarball/ },
      { modules: { '../escape': '1.0.0' }, reason: 'invalid', message: /not an npm package name/ },
      { modules: { [UPPER]: ' ' }, reason: 'invalid', message: /needs a version/ },
    ];
    for (const c of cases) {
      await assert.rejects(ensureModules({ modules: c.modules, shareFolder: share, npm }), (err: unknown) => {
        assert.ok(err instanceof ModuleInstallError);
        assert.equal(err.reason, c.reason);
        assert.match(err.message, c.message);
        return true;
      });
    }
    assert.equal(fs.existsSync(share), false);
    assert.deepEqual(calls(), []);
  });

  it('is not blocked by a crashed install: a leftover temp folder and a stale lock', async function () {
    const share = newShare();
    const { npm, calls } = fakeNpm('npm-after-crash');
    const modules = { [UPPER]: upperTgz };
    const root = path.join(share, MODULES_FOLDER);
    const key = await moduleSetKey(modules);
    // What a runner killed mid-install leaves: its temp folder and its lock, no longer refreshed.
    fs.mkdirSync(path.join(root, `${key}.tmp-4242-deadbeef`, 'node_modules', UPPER), { recursive: true });
    fs.writeFileSync(path.join(root, `${key}.tmp-4242-deadbeef`, 'package.json'), '{"half": ');
    fs.mkdirSync(path.join(root, `${key}.lock`));
    const anHourAgo = new Date(Date.now() - 3_600_000);
    fs.utimesSync(path.join(root, `${key}.lock`), anHourAgo, anHourAgo);

    const log = recordingLog();
    const result = await ensureModules({ modules, shareFolder: share, npm, log, lockTimeoutMs: 5_000 });
    assert.equal(result.installed, true);
    assert.equal(calls().length, 1);
    assert.deepEqual(fs.readdirSync(root), [key]);
    assert.ok(log.lines.some((l) => l.level === 'warn' && l.msg.includes('interrupted install')));
  });

  it('stops npm and waits again when another process takes the lock over mid-install', async function () {
    const share = newShare();
    const modules = { [UPPER]: upperTgz };
    const root = path.join(share, MODULES_FOLDER);
    const lock = path.join(root, `${await moduleSetKey(modules)}.lock`);
    // The first run plays a process that judged our lock stale and took it (then died): the lock
    // is replaced while npm "works". The second run is the real npm.
    const flag = path.join(work, 'taken-over');
    const { npm, calls } = fakeNpm('npm-takeover', `if [ ! -e '${flag}' ]; then touch '${flag}'; rmdir '${lock}'; mkdir '${lock}'; sleep 30; exit 0; fi\nexec npm "$@"`);
    const log = recordingLog();
    const started = Date.now();
    const result = await ensureModules({ modules, shareFolder: share, npm, log, lockStaleMs: 2_000, lockTimeoutMs: 20_000 });
    const ms = Date.now() - started;

    assert.equal(result.installed, true);
    assert.equal(calls().length, 2, 'the interrupted run and the real one');
    assert.ok(ms < 15_000, `npm was stopped, not waited for (${ms} ms)`);
    assert.ok(log.lines.some((l) => l.level === 'warn' && l.msg.includes('lost the install lock')));
    assert.deepEqual(leftovers(share), []);
    assert.ok(fs.existsSync(path.join(result.dir!, COMPLETE_MARKER)));
  });

  it('never logs or reports the credentials in a spec', async function () {
    const share = newShare();
    const spec = 'https://deploy:s3cret-token@127.0.0.1:9/private/fixture-1.0.0.tgz';
    // npm echoes the URL back in its error, as it does for a 401.
    const { npm } = fakeNpm('npm-401', `echo "npm error 401 Unauthorized - GET ${spec}" >&2; grep private package.json >&2; exit 1`);
    const log = recordingLog();
    const err = await ensureModules({ modules: { 'private-nodes': spec }, shareFolder: share, npm, log }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e as ModuleInstallError,
    );
    const everything = JSON.stringify({ message: err.message, modules: err.modules, tail: err.stderrTail, log: log.lines });
    assert.ok(!everything.includes('s3cret'), everything);
    assert.match(err.message, /https:\/\/\*\*\*@127\.0\.0\.1:9/);
    assert.equal(redactSecrets('//registry/:_authToken=abc123 x'), '//registry/:_authToken=*** x');
  });
});
