// The handle between a host (the runner, a test) and the pack's runtime: whichever copy of the
// pack Node-RED loads attaches to it; a second copy is refused, naming both.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { RuntimeHandle, TwoPacksError, type PackRuntime, TaskRegistry, sendJson, PauseService, FlowEndWatch, TaskTracing } from '../../../core';
import * as os from 'node:os';
import * as path from 'node:path';

function runtime(origin: string, routes: Record<string, (res: http.ServerResponse) => void> = {}): PackRuntime {
  const registry = new TaskRegistry();
  return {
    origin,
    registry,
    pauses: new PauseService({ registry, stateDir: path.join(os.tmpdir(), 'aiware-host-test-unused'), flowsStarted: () => true, warn: () => undefined }),
    flowEnd: new FlowEndWatch(registry, false),
    tracing: new TaskTracing(registry),
    settings: {},
    flowsStarted: () => true,
    claim: () => undefined,
    release: () => undefined,
    owner: () => undefined,
    processPaths: () => [],
    dispatch(method, path, _req, res) {
      const route = routes[`${method} ${path}`];
      if (!route) return false;
      route(res);
      return true;
    },
  };
}

describe('the runtime handle', function () {
  it('holds the runtime of the copy that attached, and takes the same one again (each node file attaches)', function () {
    const handle = new RuntimeHandle();
    assert.equal(handle.runtime, undefined);
    const copy = runtime('/opt/engine/node_modules/@aiware-nodered/node-red-aiware (version 0.1.0)');
    handle.attach(copy);
    handle.attach(copy);
    assert.equal(handle.runtime, copy);
    assert.equal(handle.conflict, undefined);
  });

  it('refuses a second copy, naming both folders, and keeps the refusal for the host', function () {
    const handle = new RuntimeHandle();
    const first = runtime('/a (version 0.1.0)');
    handle.attach(first);
    assert.throws(
      () => handle.attach(runtime('/b (version 0.2.0)')),
      (err: unknown) => err instanceof TwoPacksError && err.message.includes('/a (version 0.1.0) and /b (version 0.2.0)'),
    );
    assert.equal(handle.runtime, first, 'the first copy keeps serving');
    assert.ok(handle.conflict instanceof TwoPacksError);
  });

  it("serves a request on the runtime's routes, path without the query, and passes on what no node owns", async function () {
    const handle = new RuntimeHandle();
    const server = http.createServer((req, res) => {
      if (!handle.dispatch(req, res)) sendJson(res, 404, { passed: true });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      assert.equal((await fetch(`${base}/readyz`)).status, 404, 'no runtime yet: everything passes on');
      handle.attach(runtime('/a', { 'get /readyz': (res) => sendJson(res, 200, { ready: true }) }));
      assert.equal((await fetch(`${base}/readyz?probe=1`)).status, 200);
      assert.deepEqual(await (await fetch(`${base}/other`)).json(), { passed: true });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
