// Keys (core/services/keys.ts) on their own and through the emulator's key proxy: TTLs on a fake
// clock, the proxy's retries, names a path cannot carry.
import * as assert from 'node:assert/strict';
import { MemoryKeyStore, ProxyKeys, checkKeyName, encodeKeyValue, keyPath, WebhookClient } from '../../../core';
import { KeyProxy } from '@aiware-nodered/aiware-sim';
import { serve } from '../../support/loopback';

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
    const server = await serve((req, res) => {
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
    const server = await serve((req, res) => {
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
