// The minimum body rate (core/http/body-rate.ts) on a loopback server: a body slower than the rate
// past its grace is answered 408 and cut, once; a fast body, and a body the server is not reading
// (its own backpressure), are not.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import { BodyRateGuard, DEFAULT_BODY_RATE, type SlowBody } from '../../../core';
import { serve, type Loopback } from '../../support/loopback';

describe('the minimum body rate (core/http/body-rate.ts)', function () {
  this.timeout(20_000);
  let server: Loopback;
  let port: number;
  const slow: SlowBody[] = [];
  /** How the server reads: 'read' every body, 'pause' never reads it. */
  let mode: 'read' | 'pause' = 'read';
  const guard = new BodyRateGuard({ minBytesPerSecond: 1000, graceMs: 500 }, (s) => slow.push(s));

  before(async function () {
    server = await serve((req, res) => {
      guard.watch(req, res, req.url ?? '');
      if (mode === 'pause') return; // the engine's own backpressure: not the sender's fault
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        if (!res.headersSent) res.end(String(Buffer.concat(parts).length));
      });
    });
    port = server.port;
  });
  after(async function () {
    await server.close();
  });
  beforeEach(function () {
    slow.length = 0;
    mode = 'read';
  });

  /** Sends a head for `length` bytes, then `step` bytes every 100 ms; resolves with what came back once closed. */
  async function trickle(length: number, step: number, stopAfterMs = 10_000): Promise<{ answer: string; ms: number }> {
    const start = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write(`POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`);
    let sent = 0;
    const timer = setInterval(() => {
      if (sent >= length) return clearInterval(timer);
      const n = Math.min(step, length - sent);
      sent += n;
      socket.write(Buffer.alloc(n, 'a'));
    }, 100);
    // The test's own bound: a request the server never answers is closed from this side.
    const stop = setTimeout(() => socket.destroy(), stopAfterMs);
    await once(socket, 'close');
    clearInterval(timer);
    clearTimeout(stop);
    return { answer, ms: Date.now() - start };
  }

  it('cuts a body at 10 bytes/s past its grace with 408, once, naming the setting', async function () {
    const { answer, ms } = await trickle(10_000, 1);
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.match(answer, /minBodyRate/);
    assert.ok(ms >= 500, `cut after ${ms} ms, within the grace`);
    assert.equal(slow.length, 1);
    assert.equal(slow[0].path, '/x');
    assert.equal(slow[0].remoteAddress, '127.0.0.1');
    assert.equal(guard.size, 0);
  });

  it('does not cut a body at 5000 bytes/s', async function () {
    const { answer } = await trickle(10_000, 500);
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.match(answer, /10000$/);
    assert.equal(slow.length, 0);
  });

  it('does not count time the server does not read the body against the sender', async function () {
    mode = 'pause';
    const { answer } = await trickle(100, 100, 2000);
    assert.equal(answer, '', 'nothing answered: the server never read it, and the guard did not cut it');
    assert.equal(slow.length, 0);
  });

  it('is off at 0 bytes/s, and defaults to 240 bytes/s after 5 s', function () {
    const off = new BodyRateGuard({ minBytesPerSecond: 0, graceMs: 0 }, () => assert.fail('cut'));
    const req = new http.IncomingMessage(new net.Socket());
    off.watch(req, new http.ServerResponse(req), '/x');
    assert.equal(off.size, 0);
    assert.deepEqual(DEFAULT_BODY_RATE, { minBytesPerSecond: 240, graceMs: 5000 });
  });
});
