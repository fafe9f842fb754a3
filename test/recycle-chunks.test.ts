// recycleChunks: chunk memory used again from task to task. Over real HTTP: the bytes are right,
// the memory comes back and is reused, every view of a reclaimed chunk empties (never another
// task's bytes), memory is not shared between chunks in flight; and under the runner with
// RUNNER_RECYCLE_CHUNKS a flow that keeps a chunk past its task sees it empty, a copy survives.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { ToolkitEmulator, encodeMultipart } from '@aiware-nodered/aiware-sim';
import { readProcessBody, type ReceivedBody, ChunkPool, ProtocolError, sendJsonError } from '../core';
import { startRunner, type RunnerProcess } from './support/runner';
import { ReviewService } from './support/review';

const MiB = 1024 * 1024;
const LIMITS = { memoryChunkBytes: 8 * MiB, maxBodyBytes: 64 * MiB };

/** A plain node:http engine reading /process bodies with `pool`, keeping what it read for the test. */
class PooledEngine {
  readonly server = http.createServer((req, res) => void this.handle(req, res));
  private results: ((r: { body?: ReceivedBody; error?: ProtocolError }) => void)[] = [];
  private early: { body?: ReceivedBody; error?: ProtocolError }[] = [];

  constructor(readonly pool: ChunkPool) {}

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await new Promise((resolve) => this.server.once('listening', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/process`;
  }

  /** What the server read for the next request. */
  next(): Promise<{ body?: ReceivedBody; error?: ProtocolError }> {
    const ready = this.early.shift();
    return ready ? Promise.resolve(ready) : new Promise((resolve) => this.results.push(resolve));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let outcome: { body?: ReceivedBody; error?: ProtocolError };
    try {
      outcome = { body: await readProcessBody(req, LIMITS, this.pool) };
      res.writeHead(204).end();
    } catch (err) {
      outcome = { error: err as ProtocolError };
      sendJsonError(res, err as ProtocolError);
    }
    const waiter = this.results.shift();
    if (waiter) waiter(outcome);
    else this.early.push(outcome);
  }
}

function send(url: string, body: Buffer, contentType: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'Content-Type': contentType, 'Content-Length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function chunkBody(data: Buffer): { body: Buffer; contentType: string } {
  return encodeMultipart({ chunkMimeType: 'audio/wav', startOffsetMS: '0', endOffsetMS: '1000' }, { data, filename: 'chunk.wav', mimeType: 'audio/wav' });
}

async function read(engine: PooledEngine, url: string, data: Buffer): Promise<Buffer> {
  const { body, contentType } = chunkBody(data);
  const outcome = engine.next();
  assert.equal(await send(url, body, contentType), 204);
  const got = await outcome;
  assert.equal(got.error, undefined, got.error?.message);
  assert.equal(got.body!.chunk!.pooled, true, 'a chunk read at its bound is pooled memory');
  return got.body!.chunk!.buffer!;
}

describe('recycleChunks: chunk memory used again', function () {
  describe('the pool, over real HTTP', function () {
    const pool = new ChunkPool();
    const engine = new PooledEngine(pool);
    let url = '';

    before(async function () {
      url = await engine.listen();
    });
    after(async function () {
      pool.clear();
      await new Promise((resolve) => engine.server.close(resolve));
    });

    it('reads each chunk byte for byte, and uses the memory again once its task gave it back', async function () {
      const before = { ...pool.stats };
      for (let i = 0; i < 5; i++) {
        const data = randomBytes(MiB + i * 1000);
        const buffer = await read(engine, url, data);
        assert.ok(buffer.equals(data), `chunk ${i} differs`);
        pool.reclaim(buffer);
      }
      assert.equal(pool.stats.taken - before.taken, 5);
      assert.equal(pool.stats.reused - before.reused, 4, 'each chunk after the first reused the memory of the one before');
    });

    it('empties every view of a chunk when its memory goes back: the payload, a slice, its .buffer', async function () {
      const data = randomBytes(2 * MiB);
      const buffer = await read(engine, url, data);
      const slice = buffer.subarray(44);
      const whole = new Uint8Array(buffer.buffer);
      pool.reclaim(buffer);
      assert.equal(buffer.length, 0);
      assert.equal(slice.length, 0);
      assert.equal(whole.length, 0);
      // The next chunk gets that memory; the old views stay empty.
      const next = randomBytes(2 * MiB);
      const reused = pool.stats.reused;
      assert.ok((await read(engine, url, next)).equals(next));
      assert.equal(pool.stats.reused, reused + 1);
      assert.equal(buffer.length + slice.length + whole.length, 0, 'a kept view never shows the next task’s bytes');
    });

    it('shows nothing of an earlier chunk behind a smaller one’s buffer', async function () {
      pool.clear();
      const first = await read(engine, url, Buffer.alloc(3 * MiB - 4096, 0xaa));
      pool.reclaim(first);
      const data = Buffer.alloc(MiB, 0x55);
      const second = await read(engine, url, data);
      assert.equal(pool.stats.reused > 0, true);
      const memory = new Uint8Array(second.buffer);
      assert.ok(memory.length >= 3 * MiB - 4096, 'the smaller chunk got the bigger memory');
      assert.ok(second.equals(data));
      assert.equal(memory.subarray(second.length).indexOf(0xaa), -1, 'no byte of the earlier chunk is left behind the new one');
      pool.reclaim(second);
    });

    it('never lends one memory to two chunks in flight', async function () {
      const datas = [randomBytes(MiB), randomBytes(MiB), randomBytes(MiB)];
      const outcomes = [engine.next(), engine.next(), engine.next()];
      const statuses = await Promise.all(datas.map((data) => chunkBody(data)).map(({ body, contentType }) => send(url, body, contentType)));
      assert.deepEqual(statuses, [204, 204, 204]);
      const buffers = (await Promise.all(outcomes)).map((o) => o.body!.chunk!.buffer!);
      assert.equal(new Set(buffers.map((b) => b.buffer)).size, 3);
      for (const buffer of buffers) assert.ok(datas.some((data) => data.equals(buffer)));
      for (const buffer of buffers) pool.reclaim(buffer);
    });

    it('takes back the memory of a body it refused (the client left mid-chunk) without any flow seeing it', async function () {
      pool.clear();
      const { body, contentType } = chunkBody(randomBytes(MiB));
      const outcome = engine.next();
      const taken = pool.stats.taken;
      const socket = await new Promise<Socket>((resolve, reject) => {
        const req = http.request(url, { method: 'POST', headers: { 'Content-Type': contentType, 'Content-Length': body.length } });
        req.on('error', () => undefined); // the test ends the connection itself
        req.on('socket', resolve);
        req.write(body.subarray(0, body.length / 2), (err) => err && reject(err));
      });
      // Once the server has lent memory to the chunk (it is reading it), the client goes away.
      const deadline = Date.now() + 10_000;
      while (pool.stats.taken === taken) {
        assert.ok(Date.now() < deadline, 'the server never started reading the chunk');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      socket.destroy();
      const got = await outcome;
      assert.ok(got.error instanceof ProtocolError, 'the truncated body is refused');
      assert.ok(pool.idleBytes >= MiB, 'the refused chunk’s memory is free again');
    });

    it('does not take back memory it did not lend, or lent memory twice', function () {
      const stranger = Buffer.alloc(MiB);
      pool.reclaim(stranger);
      assert.equal(stranger.length, MiB);
      const lent = pool.take(MiB);
      pool.reclaim(lent);
      const reclaimed = pool.stats.reclaimed;
      pool.reclaim(lent);
      assert.equal(pool.stats.reclaimed, reclaimed);
    });
  });

  describe('under the runner (RUNNER_RECYCLE_CHUNKS=1)', function () {
    let toolkit: ToolkitEmulator;
    let runner: RunnerProcess | undefined;

    before(async function () {
      toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
    });
    after(async function () {
      await runner?.kill();
      await toolkit.stop();
    });

    it('hands each task its chunk; a chunk kept past its task is empty, a copy is whole', async function () {
      this.timeout(60_000);
      const checksum = `const sum = (b) => { let s = 0; for (let i = 0; i < b.length; i++) s = (s * 31 + b[i]) >>> 0; return s; };`;
      const flows = [
        { id: 't', type: 'tab', label: 'recycle' },
        { id: 'in', z: 't', type: 'aiware-process-in', url: '/process', readyUrl: '/readyz', engineType: 'chunk', respond: 'sync', wires: [['keep']] },
        {
          id: 'keep',
          z: 't',
          type: 'function',
          func: `${checksum}
const kept = flow.get('kept'), copy = flow.get('copy');
const word = [msg.payload.length, sum(msg.payload), kept ? kept.length : -1, copy ? copy.length : -1, copy ? sum(copy) : -1].join(':');
flow.set('kept', msg.payload);
flow.set('copy', Buffer.from(msg.payload));
msg.payload = { series: [{ startTimeMs: 0, stopTimeMs: 1000, words: [{ word, confidence: 1 }] }] };
return msg;`,
          outputs: 1,
          wires: [['out']],
        },
        { id: 'out', z: 't', type: 'aiware-result-out', validate: true },
      ];
      runner = startRunner(flows, { RUNNER_RECYCLE_CHUNKS: '1' });
      const url = await runner.ready();
      const sum = (b: Buffer) => b.reduce((s, byte) => (s * 31 + byte) >>> 0, 0);
      let previous: Buffer | undefined;
      for (let i = 0; i < 4; i++) {
        const data = randomBytes(MiB + i);
        const answer = await toolkit.process(`${url}/process`, toolkit.workItem({ chunkMimeType: 'audio/wav' }), { data, mimeType: 'audio/wav' });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        const word = (answer.body as { series: { words: { word: string }[] }[] }).series[0].words[0].word;
        const expected = [data.length, sum(data), previous ? 0 : -1, previous ? previous.length : -1, previous ? sum(previous) : -1].join(':');
        assert.equal(word, expected, `task ${i}: its chunk, the kept one emptied, the copy whole`);
        previous = data;
      }
      const ready = runner.lines.find((line) => line.msg === 'ready');
      assert.equal(ready?.recycleChunks, true, 'the ready line says chunk memory is recycled');
    });

    it('leaves a task paused on the platform its chunk: the pause node’s call-out still carries it', async function () {
      this.timeout(60_000);
      const service = await ReviewService.start();
      try {
        const flows = [
          { id: 't', type: 'tab', label: 'pause' },
          { id: 'in', z: 't', type: 'aiware-process-in', url: '/process', readyUrl: '/readyz', engineType: 'chunk', respond: 'async', wires: [['wait']] },
          { id: 'wait', z: 't', type: 'aiware-pause-for-callback', mode: 'platform', timeout: '60', wires: [['ask'], [], []] },
          {
            id: 'ask',
            z: 't',
            type: 'function',
            func: `msg.url = msg.aiware.payload.callbackServiceUrl;
msg.method = 'POST';
msg.headers = { 'content-type': 'application/json' };
msg.payload = { callbackUrl: msg.callbackUrl, size: msg.payload.length, first: msg.payload[0], last: msg.payload[msg.payload.length - 1] };
return msg;`,
            outputs: 1,
            wires: [['post']],
          },
          { id: 'post', z: 't', type: 'http request', method: 'use', ret: 'obj', url: '', wires: [[]] },
        ];
        await runner?.kill();
        runner = startRunner(flows, { RUNNER_RECYCLE_CHUNKS: '1' });
        const url = await runner.ready();
        const data = randomBytes(MiB);
        const item = toolkit.workItem({ chunkMimeType: 'audio/wav', payload: JSON.stringify({ callbackServiceUrl: service.url }), maxTTL: '120' });
        const answer = await toolkit.process(`${url}/process`, item, { data, mimeType: 'audio/wav' });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        const callOut = await service.request(0);
        assert.deepEqual({ size: callOut.size, first: callOut.first, last: callOut.last }, { size: data.length, first: data[0], last: data[data.length - 1] });
        await toolkit.waitFor((rec) => rec.status === 'paused', item.taskId);
      } finally {
        await service.stop();
      }
    });
  });
});
