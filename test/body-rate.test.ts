// Senders that trickle: a request body to /process or a callback URL that comes slower than the
// minimum rate (240 bytes/s after a 5 s grace, by default) is answered 408 and its connection
// closed, in the runner and in a stock Node-RED; honest uploads, fast or over a slow link, are
// never cut; a connection that keeps sending past a refusal is closed. Over raw sockets.
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { fn, onTestTab, processIn, resultOut } from './support/engine';
import { startRunner, type RunnerProcess } from './support/runner';
import { startStockNodeRed } from './support/stock';

const BOUNDARY = 'trickle';

/** The head of a multipart /process request whose body is `length` bytes long. */
function head(port: number, path: string, length: number, type = `multipart/form-data; boundary=${BOUNDARY}`): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\n\r\n`;
}

/** A multipart body with one text field and a chunk of `size` bytes. */
function body(size: number): Buffer {
  return Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="chunkMimeType"\r\n\r\ntext/plain\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="chunk"; filename="c.txt"\r\nContent-Type: text/plain\r\n\r\n`,
    ),
    Buffer.alloc(size, 'a'),
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

interface Trickle {
  /** When the server closed it, from its start. */
  closed: Promise<number>;
  /** What the server answered. */
  answer(): string;
}

/** Sends `bytes` at `bytesPerSecond` (in 4 steps a second) after the head, until done or closed. */
function send(port: number, headText: string, bytes: Buffer, bytesPerSecond: number): Trickle {
  const start = Date.now();
  const socket = net.connect(port, '127.0.0.1');
  let answer = '';
  socket.on('data', (data: Buffer) => (answer += data.toString('latin1')));
  socket.on('error', () => undefined);
  let sent = 0;
  const step = Math.max(1, Math.round(bytesPerSecond / 4));
  let timer: NodeJS.Timeout | undefined;
  socket.once('connect', () => {
    socket.write(headText);
    timer = setInterval(() => {
      if (socket.destroyed || sent >= bytes.length) return clearInterval(timer);
      const piece = bytes.subarray(sent, sent + step);
      sent += piece.length;
      socket.write(piece);
    }, 250);
  });
  const closed = once(socket, 'close').then(() => {
    clearInterval(timer);
    return Date.now() - start;
  });
  return { closed, answer: () => answer };
}

function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
}

describe('request bodies that trickle', function () {
  this.timeout(120_000);

  describe('in the runner', function () {
    let toolkit: ToolkitEmulator;
    let runner: RunnerProcess;
    let url: string;
    let port: number;

    before(async function () {
      toolkit = await ToolkitEmulator.start();
      const nodes = [processIn({ engineType: 'chunk', respond: 'sync' }, ['echo']), fn('echo', 'msg.payload = { text: String(msg.payload).length }; return msg;', [['out']]), resultOut('out')];
      // A 2 s grace instead of the default 5 s: the same rule, sooner (test/config.test.ts checks the defaults).
      runner = startRunner({ flows: onTestTab(nodes) }, { RUNNER_MIN_BODY_RATE_GRACE_SECONDS: '2' });
      url = await runner.ready();
      port = Number(new URL(url).port);
    });
    after(async function () {
      await runner.kill();
      await toolkit.stop();
    });

    it('closes 200 connections sending 1 byte a second within 15 s, each answered 408, while good work items are answered within 1 s', async function () {
      const full = body(1000);
      const tricklers = Array.from({ length: 200 }, () => send(port, head(port, '/process', full.length), full, 1));
      const latencies: number[] = [];
      let done = false;
      const all = Promise.all(tricklers.map((t) => t.closed)).finally(() => (done = true));
      // Good work meanwhile, one after another until every trickler is gone.
      for (let i = 0; !done && i < 200; i++) {
        const started = Date.now();
        const item = toolkit.workItem();
        const answer = await toolkit.process(`${url}/process`, item, { data: `good ${i}`, mimeType: 'text/plain' });
        latencies.push(Date.now() - started);
        assert.equal(answer.status, 200);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const closedAt = await all;
      assert.ok(Math.max(...closedAt) < 15_000, `the last trickler was closed after ${Math.max(...closedAt)} ms`);
      assert.ok(
        closedAt.every((ms) => ms > 2000),
        'none is cut within its grace',
      );
      assert.deepEqual(
        tricklers.map((t) => statusOf(t.answer())),
        tricklers.map(() => 408),
      );
      assert.match(tricklers[0].answer(), /minBodyRate/);
      assert.ok(latencies.length > 10, `${latencies.length} good work items`);
      assert.ok(Math.max(...latencies) < 1000, `good work items took up to ${Math.max(...latencies)} ms`);
      // One line for each connection cut, none for each byte. The lines come through a pipe: the
      // last may still be on their way when the last socket closes.
      const cuts = await runner.waitForLogs((line) => String(line.msg).includes('came too slowly'), 200);
      assert.equal(cuts.length, 200);
    });

    it('never cuts an 8 KiB body over a 2 KiB/s link (4 s, past the grace), nor a 64 MiB chunk at 20 MB/s that spills to disk', async function () {
      const slowBody = body(8 * 1024);
      const slow = send(port, head(port, '/process', slowBody.length), slowBody, 2048);
      const bigBody = body(64 * 1024 * 1024);
      const big = send(port, head(port, '/process', bigBody.length), bigBody, 20 * 1024 * 1024);
      // Both get their answer (the engine's 200), then the test closes nothing: the server answers and keeps the connection.
      for (const [name, t] of [
        ['slow link', slow],
        ['big chunk', big],
      ] as const) {
        const end = Date.now() + 60_000;
        while (statusOf(t.answer()) === 0 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(statusOf(t.answer()), 200, `${name}: ${t.answer().slice(0, 300)}`);
      }
    });
  });

  describe('in a stock Node-RED (the pack installed from the palette)', function () {
    let red: Awaited<ReturnType<typeof startStockNodeRed>>;
    let port: number;

    before(async function () {
      const flows = onTestTab([processIn({ engineType: 'chunk', respond: 'sync', path: '/process' }, ['out']), resultOut('out')]);
      red = await startStockNodeRed(flows, { settings: "module.exports = { flowFile: 'flows.json', aiware: { minBodyRateGraceMs: 2000 } };" });
      port = Number(new URL(red.url).port);
    });
    after(async function () {
      await red.stop();
    });

    it('answers a body at 1 byte a second 408 on the pack’s route once its grace is past, and closes the connection', async function () {
      const full = body(1000);
      const t = send(port, head(port, '/process', full.length), full, 1);
      const ms = await t.closed;
      assert.equal(statusOf(t.answer()), 408, t.answer());
      assert.ok(ms > 2000 && ms < 10_000, `closed after ${ms} ms`);
    });

    it('closes a connection that keeps sending an over-limit body after its refusal', async function () {
      const length = 5 * 1024 * 1024 * 1024; // past the 4 GiB maxBodyBytes
      const t = send(port, head(port, '/process', length), Buffer.alloc(64 * 1024 * 1024, 'x'), 8 * 1024 * 1024);
      const ms = await t.closed;
      assert.equal(statusOf(t.answer()), 413, t.answer());
      assert.ok(ms < 10_000, `closed after ${ms} ms`);
    });
  });
});
