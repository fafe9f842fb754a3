// The runner at its edge: clients that are slow or too many, over raw sockets on loopback, against
// a real runner with limits of a second or two. Each cut is answered and logged; the engine goes on
// serving work, even work it takes longer to do than the request timeout.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { startRunner, type LogLine, type RunnerProcess } from './support/runner';

const HEADERS_S = 1;
const REQUEST_S = 2;
const KEEPALIVE_S = 3;
/** The most a cut may come after its limit: Node checks every quarter of the headers timeout (here 250 ms), the rest is a busy machine's. */
const SLACK_MS = 3000;

/** The chunk example, answering after `ms`: longer than the request timeout, which must not cut it. */
function slowChunkEngine(ms: number): Record<string, unknown>[] {
  const flows = JSON.parse(fs.readFileSync(path.join(PACK_DIR, 'examples', 'chunk-text-to-transcript.json'), 'utf8')) as Record<string, unknown>[];
  const words = flows.find((n) => n.type === 'function')!;
  const wait = { id: 'wait', type: 'delay', pauseType: 'delay', timeout: String(ms), timeoutUnits: 'milliseconds', x: 450, y: 200, wires: words.wires };
  words.wires = [['wait']];
  return [...flows, wait];
}

/** A raw connection to the runner: everything it received, once the runner has closed it. */
class RawClient {
  readonly socket: net.Socket;
  received = '';
  /** The client's port, as the runner logs it (the socket forgets it once closed). */
  port = 0;
  /** Resolves with all that was received when the connection closes. */
  readonly closed: Promise<string>;
  private trickle?: NodeJS.Timeout;

  constructor(url: string) {
    const { hostname, port } = new URL(url);
    this.socket = net.connect(Number(port), hostname);
    this.socket.setEncoding('latin1');
    this.socket.on('data', (text: string) => (this.received += text));
    this.closed = new Promise((resolve) => {
      this.socket.on('error', () => undefined);
      this.socket.once('close', () => {
        clearInterval(this.trickle);
        resolve(this.received);
      });
    });
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => {
        this.port = this.socket.localPort!;
        resolve();
      });
      this.socket.once('error', reject);
    });
  }

  /** Writes `text` one byte every `everyMs`, over and over, until the connection closes. */
  trickleBytes(text: string, everyMs: number): void {
    let at = 0;
    this.trickle = setInterval(() => {
      if (this.socket.writable) this.socket.write(text[at++ % text.length]);
    }, everyMs);
  }

  /** Resolves once the received text holds a whole answer (head and a Content-Length body). */
  answer(): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const head = this.received.indexOf('\r\n\r\n');
        const length = /\r\ncontent-length: (\d+)/i.exec(this.received)?.[1];
        if (head >= 0 && length !== undefined && this.received.length >= head + 4 + Number(length)) {
          this.socket.off('data', check);
          this.socket.off('close', gone);
          resolve(this.received);
        }
      };
      const gone = (): void => reject(new Error(`the connection closed before a whole answer: ${JSON.stringify(this.received)}`));
      this.socket.on('data', check);
      this.socket.once('close', gone);
      check();
    });
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the runner at its edge', function () {
  this.timeout(30_000);
  let toolkit: ToolkitEmulator;
  let runner: RunnerProcess;
  let url: string;
  const clients: RawClient[] = [];
  const connect = async (): Promise<RawClient> => {
    const client = new RawClient(url);
    clients.push(client);
    await client.connected();
    return client;
  };
  const readyz = `GET /readyz HTTP/1.1\r\nHost: engine\r\n\r\n`;
  /**
   * Connects until a connection is served (200 from /readyz), closing each. The runner counts a
   * close once its own side has closed, a moment after the client saw it: a try in that moment is
   * refused, and each try waits on an answer, not on time.
   */
  const served = async (): Promise<void> => {
    let answer = '';
    for (let tries = 0; !answer.startsWith('HTTP/1.1 200 '); tries++) {
      assert.ok(tries < 20, `no connection served; the last answer: ${JSON.stringify(answer)}`);
      const next = await connect();
      next.socket.write(readyz);
      answer = await bounded(Promise.race([next.answer(), next.closed]), 5000, 'no answer to a new connection');
      next.socket.destroy();
      await next.closed;
    }
  };
  const warnings = (msg: string): LogLine[] => runner.lines.filter((l) => l.level === 'warn' && l.msg === msg);

  before(async function () {
    toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
    runner = startRunner(slowChunkEngine(REQUEST_S * 1000 + 1000), {
      RUNNER_HEADERS_TIMEOUT_SECONDS: String(HEADERS_S),
      RUNNER_REQUEST_TIMEOUT_SECONDS: String(REQUEST_S),
      RUNNER_KEEPALIVE_TIMEOUT_SECONDS: String(KEEPALIVE_S),
      RUNNER_MAX_CONNECTIONS: '2',
    });
    url = await runner.ready();
  });
  afterEach(function () {
    for (const client of clients.splice(0)) client.socket.destroy();
  });
  after(async function () {
    await runner?.kill();
    await toolkit?.stop();
  });

  it('answers a body trickled after its headers with 408 at the request timeout, and logs it', async function () {
    const client = await connect();
    const started = Date.now();
    client.socket.write('POST /process HTTP/1.1\r\nHost: engine\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n');
    client.trickleBytes('x', 100);
    const answer = await bounded(client.closed, REQUEST_S * 1000 + SLACK_MS, 'the trickled request was not cut');
    assert.ok(Date.now() - started >= REQUEST_S * 1000, 'not before the request timeout');
    assert.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    const line = await runner.waitForLog((l) => l.msg === 'request timeout', 5000);
    assert.equal(line.level, 'warn');
    assert.deepEqual(
      { status: line.status, limit: line.limit, seconds: line.seconds, method: line.method, path: line.path, remotePort: line.remotePort },
      { status: 408, limit: 'RUNNER_REQUEST_TIMEOUT_SECONDS', seconds: REQUEST_S, method: 'POST', path: '/process', remotePort: client.port },
    );
  });

  it('cuts headers sent slowly at the headers timeout with 408, and logs it', async function () {
    const client = await connect();
    const started = Date.now();
    client.socket.write('GET /readyz HTTP/1.1\r\nHost: engine\r\n');
    client.trickleBytes('X-Slow: yes\r\n', 100);
    const answer = await bounded(client.closed, HEADERS_S * 1000 + SLACK_MS, 'the slow headers were not cut');
    assert.ok(Date.now() - started >= HEADERS_S * 1000, 'not before the headers timeout');
    assert.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    const line = await runner.waitForLog((l) => l.msg === 'headers timeout' && l.remotePort === client.port, 5000);
    assert.deepEqual({ level: line.level, status: line.status, limit: line.limit, seconds: line.seconds }, { level: 'warn', status: 408, limit: 'RUNNER_HEADERS_TIMEOUT_SECONDS', seconds: HEADERS_S });
  });

  it('cuts a connection that never sends a byte at the headers timeout', async function () {
    const client = await connect();
    const answer = await bounded(client.closed, HEADERS_S * 1000 + SLACK_MS, 'the silent connection was not cut');
    assert.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    const line = await runner.waitForLog((l) => l.msg === 'headers timeout' && l.remotePort === client.port, 5000);
    assert.equal(line.bytesRead, 0);
  });

  it('closes an idle keep-alive connection after its timeout without a log line', async function () {
    const client = await connect();
    const started = Date.now();
    client.socket.write(readyz);
    const answer = await bounded(client.answer(), 5000, 'no answer to /readyz');
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(answer, new RegExp(`\r\nKeep-Alive: timeout=${KEEPALIVE_S}\r\n`));
    const before = runner.lines.length;
    // Node 20 closes it a second after the timeout it announces.
    await bounded(client.closed, KEEPALIVE_S * 1000 + 1000 + SLACK_MS, 'the idle connection was not closed');
    assert.ok(Date.now() - started >= KEEPALIVE_S * 1000, 'not before the keep-alive timeout');
    assert.equal(client.received, answer, 'closed without another word');
    // A request Node cannot parse: its 400 line comes after anything logged for the close.
    const garbled = await connect();
    garbled.socket.write('NOT HTTP\r\n\r\n');
    assert.match(await bounded(garbled.closed, 5000, 'the garbled request was not answered'), /^HTTP\/1\.1 400 Bad Request\r\n/);
    await runner.waitForLog((l) => l.msg === 'bad request' && l.remotePort === garbled.port, 5000);
    assert.deepEqual(
      runner.lines
        .slice(before)
        .filter((l) => l.level === 'warn')
        .map((l) => l.msg),
      ['bad request'],
    );
  });

  it('answers a connection past RUNNER_MAX_CONNECTIONS with 503, and serves a new one once one closes', async function () {
    // Two kept-alive connections, idle after their answer: the cap of 2 is reached for KEEPALIVE_S.
    const [first, second] = await Promise.all([connect(), connect()]);
    for (const client of [first, second]) {
      client.socket.write(readyz);
      assert.match(await bounded(client.answer(), 5000, 'no answer to /readyz'), /^HTTP\/1\.1 200 OK\r\n/);
    }
    const third = await connect();
    third.socket.write(readyz);
    const refused = await bounded(third.closed, 5000, 'the third connection was neither answered nor closed');
    assert.match(refused, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(refused, /\r\nConnection: close\r\n/);
    const body = JSON.parse(refused.slice(refused.indexOf('\r\n\r\n') + 4)) as { error: string };
    assert.match(body.error, /RUNNER_MAX_CONNECTIONS \(2\)/);
    const line = await runner.waitForLog((l) => l.msg === 'connection refused' && l.remotePort === third.port, 5000);
    assert.deepEqual(
      { level: line.level, status: line.status, limit: line.limit, maxConnections: line.maxConnections },
      { level: 'warn', status: 503, limit: 'RUNNER_MAX_CONNECTIONS', maxConnections: 2 },
    );

    first.socket.end();
    await bounded(first.closed, 5000, 'the first connection did not close');
    await served();
    second.socket.end();
    await bounded(second.closed, 5000, 'the second connection did not close');
  });

  it('still answers a work item with 200 after all of that, though the engine takes longer than the request timeout', async function () {
    const started = Date.now();
    const answer = await toolkit.process(`${url}/process`, toolkit.workItem(), { data: 'hello', mimeType: 'text/plain' });
    assert.equal(answer.status, 200);
    assert.ok(Date.now() - started > REQUEST_S * 1000, 'the engine took longer than the request timeout');
    assert.deepEqual(
      (answer.body as { series: { words: { word: string }[] }[] }).series.map((s) => s.words[0].word),
      ['hello'],
    );
    assert.equal(warnings('request timeout').length, 1, 'only the trickled request was cut');
  });
});
