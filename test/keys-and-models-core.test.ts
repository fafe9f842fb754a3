// The plain parts under aiware-keys and aiware-library-model, and the emulator's key proxy, on their
// own: TTLs on a fake clock, the proxy's retries, the model folder layout, the lock between processes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import { execFile, execFileSync } from 'node:child_process';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { MemoryKeyStore, ProxyKeys, checkKeyName, encodeKeyValue, keyPath, WebhookClient, modelLocation, storeModel, tryLock, lockUnlessReady, parseProcessFields } from '../core';
import { KeyProxy } from '@aiware-nodered/aiware-sim';

async function listen(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('keys (core/services/keys.ts) and the key proxy (simulator/key-proxy.ts)', function () {
  it('builds the proxy paths from the task ids and refuses names a path cannot carry', function () {
    const ids = { internalJobId: 'job 1', internalTaskId: 't-9' };
    assert.equal(keyPath('job', ids, 'count'), '/keys/jjob%201/count');
    assert.equal(keyPath('task', ids, 'a.b:c'), '/keys/tt-9/a.b:c');
    for (const bad of ['', 'a/b', '../x', 'x'.repeat(201), 'sp ace']) assert.throws(() => checkKeyName(bad), /is not a key name/);
    assert.throws(() => keyPath('job', { internalTaskId: 't' }, 'k'), /the task has no internalJobId/);
    assert.throws(() => encodeKeyValue(undefined), /undefined/);
    assert.throws(() => encodeKeyValue('x'.repeat(10), 8), /over the 8-byte limit/);
  });

  it('forgets a key once its TTL has passed (fake clock)', function () {
    let now = 1_000_000;
    const store = new MemoryKeyStore(() => now);
    store.write('j1/a', '1', 60);
    store.write('j1/b', '2');
    now += 59_999;
    assert.equal(store.read('j1/a'), '1');
    now += 1;
    assert.equal(store.read('j1/a'), undefined);
    assert.equal(store.read('j1/b'), '2', "ET's default TTL is 24 hours");
    now += 24 * 3600 * 1000;
    assert.equal(store.sweep(), 1);
    assert.equal(store.size, 0);
  });

  it('the proxy honours ttlInSeconds: 200 before, 404 after (fake clock)', async function () {
    let now = 5_000;
    const proxy = new KeyProxy({ now: () => now, maxValueBytes: 16 });
    proxy.register('task-a', { internalJobId: 'job-a', internalTaskId: 'task-a' });
    const server = await listen((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      void proxy.handle(req, res, url.pathname, url.searchParams);
    });
    try {
      const key = `${KeyProxy.urlFor(server.url, 'task-a')}/keys/jjob-a/k`;
      assert.equal((await fetch(`${key}?ttlInSeconds=2`, { method: 'POST', body: '{"n":1}' })).status, 200);
      now += 1999;
      const before = await fetch(key);
      assert.deepEqual([before.status, await before.text()], [200, '{"n":1}']);
      now += 1;
      assert.equal((await fetch(key)).status, 404);
      assert.equal((await fetch(key, { method: 'POST', body: '"seventeen bytes!"' })).status, 413);
      assert.equal((await fetch(`${KeyProxy.urlFor(server.url, 'unknown-task')}/keys/jjob-a/k`)).status, 404);
      assert.deepEqual(
        proxy.keys('job-a').map((k) => [k.key, k.ttlInSeconds, k.bytes]),
        [['k', 2, 7]],
      );
    } finally {
      await server.close();
    }
  });

  it('retries a key call the proxy answers 503, as the result webhook is retried, and reads a 404 as missing', async function () {
    let calls = 0;
    const server = await listen((req, res) => {
      calls++;
      req.resume();
      if (calls === 1) res.writeHead(503).end();
      else if (req.method === 'GET') res.writeHead(404).end();
      else res.writeHead(200).end();
    });
    try {
      const keys = new ProxyKeys(server.url, new WebhookClient({ retry: { initialDelayMs: 5, maxDelayMs: 20 } }));
      await keys.set('/keys/jj/k', '1', 60, Date.now() + 5000);
      assert.equal(calls, 2);
      assert.deepEqual(await keys.get('/keys/jj/k', Date.now() + 5000), { found: false });
    } finally {
      await server.close();
    }
  });
});

describe('library models on disk (core/services/library-model.ts, core/services/dir-lock.ts)', function () {
  let root: string;
  beforeEach(function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-model-core-'));
  });
  afterEach(function () {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('puts a model at {libraryModelDirectory}/{libraryId}/{libraryEngineModelId}, or in the folder ET gave when it already names both', function () {
    const { fields } = parseProcessFields({ libraryModelDirectory: root, payload: '{"libraryId":"L","libraryEngineModelId":"M"}' });
    assert.equal(modelLocation(fields, fields.payload).path, path.join(root, 'L', 'M', 'model'));
    const given = parseProcessFields({ libraryModelDirectory: path.join(root, 'L', 'M'), libraryId: 'L', libraryEngineModelId: 'M' }).fields;
    assert.equal(modelLocation(given).directory, path.join(root, 'L', 'M'));
    const escape = parseProcessFields({ libraryModelDirectory: root, libraryId: '..', libraryEngineModelId: 'M' }).fields;
    assert.throws(() => modelLocation(escape), /cannot name a folder/);
  });

  it('replaces a retrained model whole', async function () {
    const { fields } = parseProcessFields({ libraryModelDirectory: root, libraryId: 'L', libraryEngineModelId: 'M' });
    const location = modelLocation(fields);
    await storeModel(location, Buffer.from('v1'), 'training', { deadline: Date.now() + 5000 });
    const second = await storeModel(location, Buffer.from('v2'), 'training', { deadline: Date.now() + 5000 });
    assert.equal(fs.readFileSync(second.path, 'utf8'), 'v2');
    assert.deepEqual(fs.readdirSync(path.join(root, 'L')), ['M']);
  });

  it('takes over a lock left by a process that died (stale), and never one still held', async function () {
    const target = path.join(root, 'model');
    const held = await tryLock(target, { staleMs: 60_000 });
    assert.ok(held);
    assert.equal(await tryLock(target, { staleMs: 60_000 }), undefined);
    await held.release();
    // A lock nobody touches any more: its mtime is old.
    fs.mkdirSync(`${target}.lock`);
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(`${target}.lock`, old, old);
    const taken = await lockUnlessReady(target, () => Promise.resolve(false), Date.now() + 2000, { staleMs: 60_000 });
    assert.ok(taken, 'the stale lock was taken over');
    await taken.release();
    assert.ok(!fs.existsSync(`${target}.lock`));
  });

  it('gives up waiting for a lock held past the deadline', async function () {
    const target = path.join(root, 'model');
    const held = await tryLock(target);
    try {
      await assert.rejects(
        lockUnlessReady(target, () => Promise.resolve(false), Date.now() + 100, { pollMs: 10 }),
        /was not released in time/,
      );
    } finally {
      await held?.release();
    }
  });

  it('fails a fetch that fills the disk with file_write_error and leaves no half model (a 64 KiB tmpfs)', async function () {
    // A real full disk: a tmpfs of 64 KiB mounted in a user and mount namespace of a child of its own.
    try {
      execFileSync('unshare', ['-rm', 'true'], { stdio: 'ignore' });
    } catch {
      this.skip(); // no user namespaces here: the full disk cannot be made without root
    }
    const server = await listen((req, res) => {
      req.resume();
      const body = Buffer.alloc(512 * 1024, 1);
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
    });
    try {
      const script = path.join(__dirname, 'support', 'full-disk-child.js');
      const shell = 'mount -t tmpfs -o size=64k tmpfs "$1" && exec "$2" "$3" "$1" "$4"';
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile('unshare', ['-rm', 'sh', '-c', shell, 'sh', root, process.execPath, script, `${server.url}/model`], { timeout: 30_000 }, (err, out, errText) =>
          err ? reject(new Error(`${err.message}: ${errText}`)) : resolve(out),
        ),
      );
      const outcome = JSON.parse(stdout) as { ok: boolean; reason?: string; message?: string; left?: string[] };
      assert.equal(outcome.ok, false);
      assert.equal(outcome.reason, 'file_write_error', outcome.message);
      assert.match(outcome.message ?? '', /the disk is full/);
      assert.deepEqual(outcome.left, [], 'neither a staging folder nor the lock is left on the full disk');
    } finally {
      await server.close();
    }
  });
});
