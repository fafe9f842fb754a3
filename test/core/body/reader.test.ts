// The /process body reader against real HTTP: an engine's server reads what Engine Toolkit (or curl)
// sends, keeps small chunks in memory, spills big ones to disk, and answers bad bodies with a 4xx
// while it keeps serving.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { readProcessBody, type ReceivedBody, type BodyLimits, removeQuietly, decodeChunkText, sendJsonError, ProtocolError } from '../../../core';
import { parseMultipart } from '../../support/multipart';
import { seeded } from '../../support/seeded';

const KiB = 1024;
const MiB = 1024 * KiB;
const LIMITS: Partial<BodyLimits> = { memoryChunkBytes: 64 * KiB, maxBodyBytes: 2 * MiB, maxFieldBytes: 4 * KiB, maxFields: 50 };
const BOUNDARY = '----aiwareTestBoundary7MA4YWxkTrZu0gW';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;

/** What the server saw for one request: the body or the error, and its listeners on `req` after. */
interface Outcome {
  body?: ReceivedBody;
  error?: ProtocolError;
  listenersLeft: number;
}

const LISTENED = ['data', 'end', 'error', 'close', 'aborted'] as const;

function listenerTotal(req: http.IncomingMessage): number {
  return LISTENED.reduce((n, event) => n + req.listenerCount(event), 0);
}

/** A plain node:http engine that reads each /process body and answers what it got, as JSON. */
class Engine {
  readonly server: http.Server;
  /** Emits 'request' as each request reaches the handler. */
  readonly events = new EventEmitter();
  private outcomes: Outcome[] = [];
  private waiters: ((o: Outcome) => void)[] = [];

  constructor(private readonly limits: Partial<BodyLimits>) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The outcome of the next request the server reads (call before sending it). */
  next(): Promise<Outcome> {
    const ready = this.outcomes.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private record(o: Outcome): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(o);
    else this.outcomes.push(o);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.events.emit('request');
    const before = listenerTotal(req);
    let body: ReceivedBody;
    try {
      body = await readProcessBody(req, this.limits);
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `not a ProtocolError: ${String(err)}`);
      this.record({ error: err, listenersLeft: listenerTotal(req) - before });
      sendJsonError(res, err);
      return;
    }
    this.record({ body, listenersLeft: listenerTotal(req) - before });
    const chunk = body.chunk;
    const answer = {
      raw: body.raw,
      bytesRead: body.bytesRead,
      chunk: chunk && {
        size: chunk.size,
        inMemory: chunk.buffer !== undefined,
        path: chunk.path,
        filename: chunk.filename,
        mimeType: chunk.mimeType,
        text: chunk.buffer ? textOrNull(decodeChunkText(chunk.buffer, body.raw.chunkMimeType ?? chunk.mimeType)) : null,
      },
    };
    const text = JSON.stringify(answer);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}

function textOrNull(value: string | Buffer): string | null {
  return typeof value === 'string' ? value : null;
}

/** What the test server answers: the pack's error (sendJsonError), or its echo of the body it read (handle()). */
interface AnswerJson {
  error?: string;
  field?: string;
  raw?: Record<string, string>;
  bytesRead?: number;
  chunk?: { size: number; inMemory: boolean; path?: string; filename?: string; mimeType?: string; text: string | null };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  json?: AnswerJson;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function readAnswer(res: http.IncomingMessage): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    res.on('data', (part: Buffer) => parts.push(part));
    res.on('error', reject);
    res.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      try {
        resolve({ status: res.statusCode!, headers: res.headers, json: text === '' ? undefined : (JSON.parse(text) as AnswerJson) });
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** One whole request over the keep-alive agent. */
function post(port: number, headers: http.OutgoingHttpHeaders, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/process', headers, agent }, (res) => {
      readAnswer(res).then(resolve, reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function fieldPart(name: string, value: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`), Buffer.from(value), Buffer.from('\r\n')]);
}

function fileHead(name: string, filename: string, type: string): Buffer {
  return Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`);
}

const CLOSING = Buffer.from(`--${BOUNDARY}--\r\n`);

/** A multipart body as Engine Toolkit builds it: text fields, then (optionally) the chunk file part. */
function multipart(fields: Record<string, string>, chunk?: { data: Buffer; type: string; filename?: string }): Buffer {
  const parts = Object.entries(fields).map(([name, value]) => fieldPart(name, value));
  if (chunk) parts.push(fileHead('chunk', chunk.filename ?? 'chunk.bin', chunk.type), chunk.data, Buffer.from('\r\n'));
  parts.push(CLOSING);
  return Buffer.concat(parts);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    fs.createReadStream(file)
      .on('data', (part) => hash.update(part))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

const TASK = {
  chunkMimeType: 'application/octet-stream',
  startOffsetMS: '0',
  endOffsetMS: '1000',
  chunkContext: 'ctx-1',
  payload: '{"mode":"chunk"}',
};

describe('core/body: reading /process bodies', function () {
  const engine = new Engine(LIMITS);
  let port = 0;
  let scratch = '';

  before(async function () {
    engine.server.listen(0, '127.0.0.1');
    await new Promise((resolve) => engine.server.once('listening', resolve));
    port = engine.port;
    scratch = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'aiware-body-test-'));
  });

  after(async function () {
    agent.destroy();
    await new Promise((resolve) => engine.server.close(resolve));
    await fs.promises.rm(scratch, { recursive: true, force: true });
  });

  /** A fresh directory to send as taskTmpDir, to see what a request leaves behind. */
  async function taskTmpDir(): Promise<string> {
    return fs.promises.mkdtemp(path.join(scratch, 'task-'));
  }

  /** After every bad request: the server still reads a good one. */
  async function assertStillServes(): Promise<void> {
    const data = randomBytes(KiB);
    const outcome = engine.next();
    const answer = await post(port, { 'Content-Type': MULTIPART }, multipart(TASK, { data, type: 'image/png' }));
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.deepEqual((await outcome).body!.chunk!.buffer, data);
  }

  async function assertRefused(answer: Answer | Promise<Answer>, status: number, error: RegExp, field?: string): Promise<Outcome> {
    const outcome = await engine.next();
    const got = await answer;
    assert.equal(got.status, status, JSON.stringify(got.json));
    assert.match(got.json?.error ?? '', error);
    assert.equal(got.json?.field, field);
    assert.equal(outcome.error?.status, status);
    assert.equal(outcome.listenersLeft, 0, 'readProcessBody left listeners on the request');
    return outcome;
  }

  describe('good bodies', function () {
    it('keeps a small chunk in memory as a Buffer, with every field as a string', async function () {
      const data = randomBytes(KiB);
      const body = multipart({ ...TASK, 'chunk-metadata-camera': 'north', chunkMimeType: 'image/jpeg' }, { data, type: 'image/jpeg', filename: 'frame 1.jpg' });
      const outcome = engine.next();
      const answer = await post(port, { 'Content-Type': MULTIPART }, body);
      assert.equal(answer.status, 200);
      const got = await outcome;
      assert.deepEqual(got.body!.chunk!.buffer, data);
      assert.equal(got.body!.chunk!.path, undefined);
      assert.equal(got.body!.chunk!.filename, 'frame 1.jpg');
      assert.equal(got.body!.chunk!.mimeType, 'image/jpeg');
      assert.equal(got.body!.bytesRead, body.length);
      assert.equal(got.listenersLeft, 0);
      assert.deepEqual(got.body!.raw, { ...TASK, chunkMimeType: 'image/jpeg', 'chunk-metadata-camera': 'north' });
    });

    it('keeps the last value of a repeated field and reads a stream engine request with no chunk', async function () {
      const body = Buffer.concat([fieldPart('cacheURI', 'http://a'), fieldPart('cacheURI', 'http://b'), CLOSING]);
      const answer = await post(port, { 'Content-Type': MULTIPART }, body);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json?.raw, { cacheURI: 'http://b' });
      assert.equal(answer.json?.chunk, undefined);
      await engine.next();
    });

    const texts = [
      { charset: 'utf-8', mime: 'text/plain; charset=utf-8', text: 'héllo ✓ wörld', bytes: Buffer.from('héllo ✓ wörld', 'utf8') },
      { charset: 'latin1', mime: 'text/plain; charset=ISO-8859-1', text: 'café crème', bytes: Buffer.from('café crème', 'latin1') },
      { charset: 'none (UTF-8)', mime: 'application/json', text: '{"a":"é"}', bytes: Buffer.from('{"a":"é"}', 'utf8') },
    ];
    for (const t of texts) {
      it(`decodes a text chunk by its charset: ${t.charset}`, async function () {
        const body = multipart({ chunkMimeType: t.mime }, { data: t.bytes, type: 'text/plain' });
        const answer = await post(port, { 'Content-Type': MULTIPART }, body);
        assert.equal(answer.status, 200);
        assert.equal(answer.json?.chunk?.text, t.text);
        await engine.next();
      });
    }

    it('spills a large chunk to a file in taskTmpDir, byte for byte, when that field comes first', async function () {
      const dir = await taskTmpDir();
      const data = randomBytes(MiB);
      const outcome = engine.next();
      const answer = await post(port, { 'Content-Type': MULTIPART }, multipart({ taskTmpDir: dir, ...TASK }, { data, type: 'video/mp4', filename: 'clip.mp4' }));
      assert.equal(answer.status, 200);
      const chunk = (await outcome).body!.chunk!;
      assert.equal(chunk.buffer, undefined);
      assert.equal(chunk.size, MiB);
      assert.equal(path.dirname(chunk.path!), dir);
      assert.match(path.basename(chunk.path!), /^aiware-chunk-[0-9a-f-]{36}\.mp4$/);
      assert.equal(await sha256File(chunk.path!), sha256(data));
      await removeQuietly(chunk.path!);
      assert.deepEqual(await fs.promises.readdir(dir), []);
    });

    it('keeps a small chunk in memory, with a file too, when big fields made the body look big', async function () {
      // Content-Length over memoryChunkBytes: the chunk goes to disk from its first byte, then,
      // being small after all, is read back so it is still in memory as promised.
      const dir = await taskTmpDir();
      const data = randomBytes(KiB);
      const fields: Record<string, string> = { taskTmpDir: dir };
      for (let i = 0; i < 20; i++) fields[`bulky${i}`] = 'x'.repeat(4 * KiB - 100);
      const outcome = engine.next();
      const answer = await post(port, { 'Content-Type': MULTIPART }, multipart(fields, { data, type: 'audio/wav' }));
      assert.equal(answer.status, 200);
      const chunk = (await outcome).body!.chunk!;
      assert.deepEqual(chunk.buffer, data);
      assert.equal(path.dirname(chunk.path!), dir);
      assert.equal(await sha256File(chunk.path!), sha256(data));
      await removeQuietly(chunk.path!);
    });

    it('spills to the OS temp dir when taskTmpDir comes after the chunk, or names no directory', async function () {
      const cases: Record<string, string>[] = [{ taskTmpDir: path.join(scratch, 'not-there') }, {}];
      for (const fields of cases) {
        const data = randomBytes(200 * KiB);
        const body = Buffer.concat([multipart(fields, { data, type: 'audio/wav' }).subarray(0, -CLOSING.length), fieldPart('taskTmpDir', scratch), CLOSING]);
        const outcome = engine.next();
        const answer = await post(port, { 'Content-Type': MULTIPART }, body);
        assert.equal(answer.status, 200);
        const chunk = (await outcome).body!.chunk!;
        assert.equal(path.dirname(chunk.path!), os.tmpdir());
        assert.equal(await sha256File(chunk.path!), sha256(data));
        await removeQuietly(chunk.path!);
      }
    });

    it('reads an urlencoded body, its chunk field as UTF-8 bytes', async function () {
      const form = new URLSearchParams({ ...TASK, chunk: 'hello é', chunkMimeType: 'text/plain' });
      const outcome = engine.next();
      const answer = await post(port, { 'Content-Type': 'application/x-www-form-urlencoded' }, form.toString());
      assert.equal(answer.status, 200);
      const got = (await outcome).body!;
      assert.deepEqual(got.chunk!.buffer, Buffer.from('hello é', 'utf8'));
      assert.equal(got.chunk!.mimeType, undefined);
      assert.deepEqual(got.raw, { ...TASK, chunkMimeType: 'text/plain' });
      assert.equal(answer.json?.chunk?.text, 'hello é');
    });

    it('reads a JSON body: strings as they are, other values as JSON text, null as absent', async function () {
      const json = { chunk: '{"x":1}', startOffsetMS: 0, endOffsetMS: 1000, payload: { mode: 'chunk', n: [1, 2] }, chunkContext: null, taskTmpDir: '/tmp' };
      const outcome = engine.next();
      const answer = await post(port, { 'Content-Type': 'application/json; charset=utf-8' }, JSON.stringify(json));
      assert.equal(answer.status, 200);
      const got = (await outcome).body!;
      assert.deepEqual(got.raw, { startOffsetMS: '0', endOffsetMS: '1000', payload: '{"mode":"chunk","n":[1,2]}', taskTmpDir: '/tmp' });
      assert.deepEqual(got.chunk!.buffer, Buffer.from('{"x":1}'));
    });

    it('takes a chunk sent as a text part (curl -F chunk=...) as UTF-8 bytes', async function () {
      const outcome = engine.next();
      const answer = await post(port, { 'Content-Type': MULTIPART }, multipart({ ...TASK, chunk: 'plain é' }));
      assert.equal(answer.status, 200);
      const got = (await outcome).body!;
      assert.deepEqual(got.chunk!.buffer, Buffer.from('plain é'));
      assert.deepEqual(got.raw, TASK);
    });

    it('ignores a file part that is not the chunk', async function () {
      const body = Buffer.concat([fileHead('thumbnail', 'a.png', 'image/png'), randomBytes(10 * KiB), Buffer.from('\r\n'), multipart(TASK, { data: Buffer.from('ok'), type: 'text/plain' })]);
      const answer = await post(port, { 'Content-Type': MULTIPART }, body);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json?.raw, TASK);
      assert.equal(answer.json?.chunk?.size, 2);
      await engine.next();
    });
  });

  describe('a body however the socket cuts it', function () {
    /**
     * The body in the given pieces, each its own chunk of a chunked transfer: Node's HTTP parser
     * hands each chunk's bytes to the reader as a piece of its own, so the cuts are exactly these.
     */
    function postInPieces(body: Buffer, cuts: number[]): Promise<Answer> {
      return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/process', headers: { 'Content-Type': MULTIPART }, agent }, (res) => {
          readAnswer(res).then(resolve, reject);
        });
        req.on('error', reject);
        let from = 0;
        for (const cut of [...cuts, body.length]) {
          if (cut > from) req.write(body.subarray(from, cut));
          from = cut;
        }
        req.end();
      });
    }

    async function assertReads(body: Buffer, cuts: number[], data: Buffer): Promise<void> {
      const outcome = engine.next();
      const answer = await postInPieces(body, cuts);
      assert.equal(answer.status, 200, `cut at ${cuts.join(', ')}: ${JSON.stringify(answer.json)}`);
      const got = await outcome;
      assert.deepEqual(got.body!.raw, TASK, `cut at ${cuts.join(', ')}`);
      assert.ok(got.body!.chunk!.buffer!.equals(data), `cut at ${cuts.join(', ')}: the chunk differs`);
    }

    it('reads the same fields and chunk when the body is cut in two at every byte', async function () {
      this.timeout(60_000);
      // Chunk bytes that look like the protocol: dashes, CR LF, the start of a boundary.
      const data = Buffer.from(`a-\r\n-\r\n--${BOUNDARY.slice(0, 10)}--\r\nz-`);
      const body = multipart(TASK, { data, type: 'application/octet-stream' });
      for (let cut = 1; cut < body.length; cut++) await assertReads(body, [cut], data);
    });

    it('reads a body cut in three anywhere around the closing boundary, and one byte at a time', async function () {
      this.timeout(60_000);
      const data = randomBytes(300);
      const body = multipart(TASK, { data, type: 'application/octet-stream' });
      const tail = body.length - CLOSING.length - 4;
      for (let a = tail; a < body.length; a++) for (let b = a + 1; b < body.length; b++) await assertReads(body, [a, b], data);
      await assertReads(
        body,
        Array.from({ length: body.length - 1 }, (_, i) => i + 1),
        data,
      );
    });

    it('reads what busboy reads from 60 random bodies, cut at random, with values and chunks that look like the protocol', async function () {
      this.timeout(60_000);
      const random = seeded(12);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
      const upTo = (n: number): number => Math.floor(random() * (n + 1));
      // Pieces of values and chunks that a parser could take for its own syntax.
      const tricky = ['\r\n', '--', '-', '\r\n--', `\r\n--${BOUNDARY.slice(0, 12)}`, `--${BOUNDARY}`.slice(0, -1), '\r', '\n\r\n', 'é', '✓', '"', ' ', 'a', '0'];
      const text = (max: number): string => Array.from({ length: upTo(max) }, () => pick(tricky)).join('');
      // Seeded bytes, so a failing body can be replayed.
      const someBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => upTo(255)));
      const delimiter = Buffer.from(`\r\n--${BOUNDARY}`);
      /**
       * A value holding no delimiter, with the CR LF before it (the end of its header block) counted:
       * one would end its part early (RFC 2046 §5.1.1 keeps the boundary out of the data), which
       * makes another body, one busboy and the reader read differently ('--' + BOUNDARY, cut short by
       * one character, followed by random bytes whose first is that character).
       */
      const clean = <T extends string | Buffer>(make: () => T): T => {
        for (;;) {
          const value = make();
          if (!Buffer.concat([Buffer.from('\r\n'), Buffer.from(value)]).includes(delimiter)) return value;
        }
      };
      let chunks = 0;
      for (let n = 0; n < 60; n++) {
        const fields: Record<string, string> = {};
        for (let f = upTo(12); f > 0; f--) fields[pick(['payload', 'chunkContext', 'startOffsetMS', 'x-extra', 'taskId', 'é-field'])] = clean(() => text(40));
        const bytes = clean(() => Buffer.concat(Array.from({ length: upTo(30) }, () => (random() < 0.5 ? Buffer.from(pick(tricky)) : someBytes(upTo(3000))))));
        const withChunk = random() < 0.8;
        const filename = pick(['chunk.bin', 'a b.wav', 'été.mp4', 'say "hi".txt']);
        const type = pick(['application/octet-stream', 'audio/wav', 'text/plain; charset=utf-8']);
        const body = Buffer.concat([
          ...Object.entries(fields).map(([name, value]) => fieldPart(name, value)),
          ...(withChunk ? [fileHead('chunk', filename.replace(/"/g, '\\"'), type), bytes, Buffer.from('\r\n')] : []),
          CLOSING,
        ]);
        const cuts = Array.from({ length: upTo(5) }, () => 1 + upTo(body.length - 2)).sort((a, b) => a - b);
        const expected = await parseMultipart(body, MULTIPART);
        const expectedChunk = expected.files.find((file) => file.name === 'chunk');
        const outcome = engine.next();
        const answer = await postInPieces(body, cuts);
        const story = `body ${n} (seed 12), ${body.length} bytes cut at ${cuts.join(', ')}`;
        assert.equal(answer.status, 200, `${story}: ${JSON.stringify(answer.json)}`);
        const got = (await outcome).body!;
        assert.deepEqual(got.raw, expected.fields, story);
        assert.equal(got.chunk === undefined, expectedChunk === undefined, story);
        if (expectedChunk) {
          chunks++;
          assert.ok(got.chunk!.buffer!.equals(expectedChunk.data), `${story}: the chunk differs`);
          assert.equal(got.chunk!.filename, expectedChunk.filename, story);
          assert.equal(got.chunk!.mimeType, expectedChunk.mimeType, story);
        }
      }
      assert.ok(chunks >= 30, `only ${chunks} of the 60 bodies had a chunk`);
    });

    it('reads a chunk whose bytes end in dashes, with and without a Content-Length', async function () {
      for (const data of [Buffer.from('audio-'), Buffer.from('audio--'), Buffer.from('---'), Buffer.concat([randomBytes(40 * KiB), Buffer.from('--')])]) {
        const body = multipart(TASK, { data, type: 'application/octet-stream' });
        const outcome = engine.next();
        const answer = await post(port, { 'Content-Type': MULTIPART }, body);
        assert.equal(answer.status, 200, JSON.stringify(answer.json));
        assert.ok((await outcome).body!.chunk!.buffer!.equals(data));
        await assertReads(body, [body.length - CLOSING.length - 3, body.length - CLOSING.length + 1], data);
      }
    });

    it("reads a part's header block however the socket cuts it around its blank line", async function () {
      const body = Buffer.concat([fieldPart('chunkContext', 'ctx'), fieldPart('payload', '{}'), CLOSING]);
      const head = body.indexOf('\r\n\r\n', body.indexOf('payload'));
      for (let cut = head - 3; cut <= head + 4; cut++) {
        const outcome = engine.next();
        const answer = await postInPieces(body, [cut]);
        assert.equal(answer.status, 200, `cut at ${cut}: ${JSON.stringify(answer.json)}`);
        assert.deepEqual((await outcome).body!.raw, { chunkContext: 'ctx', payload: '{}' });
      }
    });
    it('decodes a text field by the charset of its part, UTF-8 when it names none', async function () {
      const body = Buffer.concat([
        Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="latin"\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n\r\n`),
        Buffer.from('café crème', 'latin1'),
        Buffer.from('\r\n'),
        fieldPart('plain', 'héllo ✓'),
        CLOSING,
      ]);
      const answer = await post(port, { 'Content-Type': MULTIPART }, body);
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      assert.deepEqual(answer.json?.raw, { latin: 'café crème', plain: 'héllo ✓' });
      await engine.next();
    });

    it('reads a filename quoted as Go quotes it: \\" and \\\\ back to " and \\', async function () {
      const data = randomBytes(64);
      const body = Buffer.concat([
        fieldPart('chunkMimeType', 'application/octet-stream'),
        Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="chunk"; filename="say \\"hi\\" C:\\\\clips\\\\é.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
        data,
        Buffer.from('\r\n'),
        CLOSING,
      ]);
      const outcome = engine.next();
      const answer = await post(port, { 'Content-Type': MULTIPART }, body);
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      const got = await outcome;
      assert.equal(got.body!.chunk!.filename, 'say "hi" C:\\clips\\é.wav');
      assert.equal(got.body!.chunk!.mimeType, 'audio/wav');
      assert.ok(got.body!.chunk!.buffer!.equals(data));
    });
  });

  describe('parts headed otherwise than Go heads them', function () {
    it('reads a preamble, padding, lower-case and folded headers, unquoted and RFC 5987 values, and an epilogue', async function () {
      const data = randomBytes(200);
      const body = Buffer.concat([
        Buffer.from('This is the preamble: read past.\r\n'),
        Buffer.from(`--${BOUNDARY} \t\r\ncontent-disposition:form-data;name=plain\r\nX-Other: ignored\r\n\r\nunquoted\r\n`),
        Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data;\r\n  name="folded"\r\n\r\nfolded line\r\n`),
        Buffer.from(`--${BOUNDARY}\r\nCONTENT-TYPE: Text/Plain; charset="UTF-8"\r\nContent-Disposition: form-data; name="typed"\r\n\r\nhéllo\r\n`),
        Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="empty"\r\n\r\n\r\n`),
        Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="chunk"; filename="fallback.wav"; filename*=UTF-8''%C3%A9t%C3%A9.wav\r\n\r\n`),
        data,
        Buffer.from(`\r\n--${BOUNDARY}--\r\nThis is the epilogue: read past.\r\n`),
      ]);
      const outcome = engine.next();
      const answer = await post(port, { 'Content-Type': `multipart/form-data; boundary="${BOUNDARY}"` }, body);
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      const got = await outcome;
      assert.deepEqual(got.body!.raw, { plain: 'unquoted', folded: 'folded line', typed: 'héllo', empty: '' });
      assert.equal(got.body!.chunk!.filename, 'été.wav');
      assert.equal(got.body!.chunk!.mimeType, 'application/octet-stream', 'a file part with no Content-Type');
      assert.ok(got.body!.chunk!.buffer!.equals(data));
    });
  });

  describe('bad bodies get a 4xx, and the server keeps serving', function () {
    const wrongTypes: [string, http.OutgoingHttpHeaders][] = [
      ['text/plain', { 'Content-Type': 'text/plain' }],
      ['no content type', {}],
    ];
    for (const [title, headers] of wrongTypes) {
      it(`refuses ${title} with 415`, async function () {
        await assertRefused(post(port, headers, 'chunk=1'), 415, /^unsupported content type .*; send multipart\/form-data, application\/x-www-form-urlencoded or application\/json$/);
        await assertStillServes();
      });
    }

    it('refuses JSON that does not parse, or is not an object, with 400', async function () {
      await assertRefused(post(port, { 'Content-Type': 'application/json' }, '{"chunk": '), 400, /^application\/json body is not JSON: /);
      await assertStillServes();
      await assertRefused(post(port, { 'Content-Type': 'application/json' }, '[1,2]'), 400, /must be a JSON object/);
      await assertStillServes();
    });

    it('refuses a truncated multipart body with 400', async function () {
      const whole = multipart(TASK, { data: randomBytes(4 * KiB), type: 'image/png' });
      await assertRefused(post(port, { 'Content-Type': MULTIPART }, whole.subarray(0, whole.length - 100)), 400, /^multipart body is truncated/);
      await assertStillServes();
    });

    it('refuses a multipart body with no boundary with 400', async function () {
      await assertRefused(post(port, { 'Content-Type': 'multipart/form-data' }, multipart(TASK)), 400, /^multipart\/form-data request has no boundary/);
      await assertStillServes();
    });

    const malformed: [string, Buffer, RegExp][] = [
      ['a header line with no colon', Buffer.from(`--${BOUNDARY}\r\nContent-Disposition form-data; name="a"\r\n\r\nx\r\n`), /headers are invalid/],
      ['a part with no Content-Disposition', Buffer.from(`--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n`), /has no Content-Disposition/],
      ['a Content-Disposition with no name', Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; filename="a.wav"\r\n\r\nx\r\n`), /Content-Disposition has no name/],
      ['a Content-Disposition whose parameters do not parse', Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"junk\r\n\r\nx\r\n`), /Content-Disposition has no name/],
      ['headers longer than 16 KiB', Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\nX-Long: ${'y'.repeat(16 * KiB)}\r\n\r\nx\r\n`), /headers are longer than 16384 bytes/],
      [
        'a header line whose long runs of spaces end in a lone CR',
        Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\nX-Pad: a${' '.repeat(7000)}b${' '.repeat(7000)}\rz\r\n\r\nx\r\n`),
        /headers are invalid/,
      ],
      ['a boundary line with more after it', Buffer.from(`--${BOUNDARY}X\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n`), /boundary line is not followed by CR LF/],
      ['a boundary line ended by a bare CR', Buffer.from(`--${BOUNDARY}\rContent-Disposition: form-data; name="a"\r\n\r\nx\r\n`), /boundary line is not followed by CR LF/],
      ['a closing boundary with one dash', Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--${BOUNDARY}-\r\n`), /boundary line is not followed by CR LF/],
    ];
    for (const [title, part, says] of malformed) {
      it(`refuses ${title} with 400`, async function () {
        await assertRefused(post(port, { 'Content-Type': MULTIPART }, Buffer.concat([part, multipart(TASK)])), 400, new RegExp(`^multipart body is malformed: .*${says.source}`));
        await assertStillServes();
      });
    }

    it('refuses a second chunk part with 400', async function () {
      const chunk = Buffer.concat([fileHead('chunk', 'a.bin', 'application/octet-stream'), randomBytes(100), Buffer.from('\r\n')]);
      await assertRefused(
        post(port, { 'Content-Type': MULTIPART }, Buffer.concat([chunk, multipart(TASK, { data: randomBytes(100), type: 'image/png' })])),
        400,
        /more than one "chunk" part/,
        'chunk',
      );
      await assertStillServes();
    });

    it('refuses a field bigger than maxFieldBytes with 413 naming it', async function () {
      const big = 'x'.repeat(4 * KiB + 1);
      await assertRefused(post(port, { 'Content-Type': MULTIPART }, multipart({ ...TASK, payload: big })), 413, /^field "payload" is larger than 4096 bytes$/, 'payload');
      await assertStillServes();
      await assertRefused(post(port, { 'Content-Type': 'application/json' }, JSON.stringify({ chunkContext: big })), 413, /^field "chunkContext" is larger/, 'chunkContext');
      await assertStillServes();
      // exactly the limit is fine
      const answer = await post(port, { 'Content-Type': MULTIPART }, multipart({ payload: big.slice(1) }));
      assert.equal(answer.status, 200);
      await engine.next();
    });

    it('refuses more than maxFields fields with 413', async function () {
      const fields: Record<string, string> = {};
      for (let i = 0; i <= 50; i++) fields[`f${i}`] = String(i);
      await assertRefused(post(port, { 'Content-Type': MULTIPART }, multipart(fields)), 413, /more than 50 fields/);
      await assertStillServes();
    });

    it('refuses a body over maxBodyBytes by its Content-Length with 413, before reading it', async function () {
      const answer = new Promise<Answer>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/process', agent: false, headers: { 'Content-Type': MULTIPART, 'Content-Length': 10 * MiB } });
        req.on('response', (res) => void readAnswer(res).then(resolve, reject));
        req.on('error', () => undefined); // the server closes the connection: expected
        req.flushHeaders();
      });
      await assertRefused(answer, 413, /^request body is larger than 2097152 bytes$/);
      assert.equal((await answer).headers.connection, 'close');
      await assertStillServes();
    });

    it('refuses a chunked body that grows over maxBodyBytes with 413, and removes the spilled chunk', async function () {
      const dir = await taskTmpDir();
      const outcome = engine.next();
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/process', agent: false, headers: { 'Content-Type': MULTIPART } });
      req.on('error', () => undefined); // the server stops reading and closes: expected
      const answer = new Promise<Answer>((resolve, reject) => req.on('response', (res) => void readAnswer(res).then(resolve, reject)));
      let answered = false;
      void answer.then(
        () => (answered = true),
        () => (answered = true),
      );
      req.write(Buffer.concat([fieldPart('taskTmpDir', dir), fileHead('chunk', 'big.bin', 'application/octet-stream')]));
      // Send until the server answers, waiting on the socket's drain, never on a clock.
      const piece = randomBytes(64 * KiB);
      while (!answered && !req.destroyed) {
        if (!req.write(piece)) await Promise.race([new Promise((resolve) => req.once('drain', resolve)), answer.catch(() => undefined)]);
      }
      const got = await answer;
      assert.equal(got.status, 413);
      assert.match(got.json?.error ?? '', /^request body is larger than 2097152 bytes$/);
      assert.equal(got.headers.connection, 'close');
      const seen = await outcome;
      assert.equal(seen.error?.status, 413);
      assert.equal(seen.listenersLeft, 0);
      assert.deepEqual(await fs.promises.readdir(dir), [], 'the spilled chunk is still there');
      req.destroy();
      await assertStillServes();
    });

    it('survives a client that disconnects mid-upload: no temp file, no listener left', async function () {
      const dir = await taskTmpDir();
      const watcher = fs.watch(dir);
      const spilled = new Promise((resolve) => watcher.once('change', resolve));
      const outcome = engine.next();
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/process', agent: false, headers: { 'Content-Type': MULTIPART, 'Content-Length': MiB } });
      req.on('error', () => undefined); // we hang up ourselves
      req.write(Buffer.concat([fieldPart('taskTmpDir', dir), fileHead('chunk', 'big.bin', 'application/octet-stream'), randomBytes(200 * KiB)]));
      try {
        await spilled; // the server has opened its temp file
      } finally {
        watcher.close();
      }
      req.destroy();
      const seen = await outcome;
      assert.equal(seen.error?.status, 400);
      assert.match(seen.error.message, /closed the connection before the request body was complete/);
      assert.equal(seen.listenersLeft, 0);
      assert.deepEqual(await fs.promises.readdir(dir), [], 'the spilled chunk is still there');
      await assertStillServes();
    });

    it('survives a disconnect while the chunk is still in memory', async function () {
      const outcome = engine.next();
      const reached = once(engine.events, 'request');
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/process', agent: false, headers: { 'Content-Type': MULTIPART, 'Content-Length': MiB } });
      req.on('error', () => undefined);
      req.write(Buffer.concat([fieldPart('chunkContext', 'x'), fileHead('chunk', 'a.bin', 'application/octet-stream'), randomBytes(KiB)]));
      await reached;
      req.destroy();
      const seen = await outcome;
      assert.equal(seen.error?.status, 400);
      assert.equal(seen.listenersLeft, 0);
      await assertStillServes();
    });
  });

  describe('chunks in memory: copied once, into memory of their own', function () {
    // Big enough in memory for the preallocated path (multipart PREALLOCATE_FROM, 128 KiB).
    const roomy = new Engine({ ...LIMITS, memoryChunkBytes: MiB, maxFieldBytes: 256 * KiB });

    before(async function () {
      roomy.server.listen(0, '127.0.0.1');
      await once(roomy.server, 'listening');
    });

    after(async function () {
      await new Promise((resolve) => roomy.server.close(resolve));
    });

    /** The bytes of the chunk's ArrayBuffer outside the chunk itself. */
    function outside(buffer: Buffer): Buffer {
      const all = Buffer.from(buffer.buffer as ArrayBuffer);
      return Buffer.concat([all.subarray(0, buffer.byteOffset), all.subarray(buffer.byteOffset + buffer.length)]);
    }

    /** A request sent with Transfer-Encoding: chunked (no Content-Length), in 16 KiB writes. */
    function postChunked(body: Buffer): Promise<Answer> {
      return new Promise((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: roomy.port, method: 'POST', path: '/process', agent: false, headers: { 'Content-Type': MULTIPART, 'Transfer-Encoding': 'chunked' } },
          (res) => {
            readAnswer(res).then(resolve, reject);
          },
        );
        req.on('error', reject);
        for (let at = 0; at < body.length; at += 16 * KiB) req.write(body.subarray(at, at + 16 * KiB));
        req.end();
      });
    }

    it('reads a chunk announced by Content-Length byte for byte, with nothing of another request behind it', async function () {
      const data = randomBytes(300 * KiB + 7);
      const outcome = roomy.next();
      const answer = await post(roomy.port, { 'Content-Type': MULTIPART }, multipart(TASK, { data, type: 'audio/wav' }));
      assert.equal(answer.status, 200);
      const chunk = (await outcome).body!.chunk!;
      assert.deepEqual(chunk.buffer, data);
      assert.equal(chunk.path, undefined);
      // Allocated at the part's bound (the body's length): the closing boundary's room is zeros.
      assert.ok(
        outside(chunk.buffer).every((byte) => byte === 0),
        'stale bytes behind msg.payload.buffer',
      );
    });

    it('reads a chunk sent without a Content-Length (chunked transfer) byte for byte', async function () {
      const data = randomBytes(300 * KiB + 3);
      const outcome = roomy.next();
      const answer = await postChunked(multipart(TASK, { data, type: 'audio/wav' }));
      assert.equal(answer.status, 200);
      const chunk = (await outcome).body!.chunk!;
      assert.deepEqual(chunk.buffer, data);
      assert.equal(chunk.buffer.buffer.byteLength, data.length, 'the pieces are joined into a buffer of their own');
    });

    it('keeps a chunk of exactly memoryChunkBytes in memory, and spills one byte more', async function () {
      for (const [size, inMemory] of [
        [MiB, true],
        [MiB + 1, false],
      ] as const) {
        const dir = await taskTmpDir();
        const data = randomBytes(size);
        const outcome = roomy.next();
        // Chunked: no Content-Length, so the size decides, not the announced body.
        const answer = await postChunked(multipart({ ...TASK, taskTmpDir: dir }, { data, type: 'video/mp4' }));
        assert.equal(answer.status, 200);
        const chunk = (await outcome).body!.chunk!;
        assert.equal(chunk.size, size);
        if (inMemory) {
          assert.deepEqual(chunk.buffer, data);
          assert.equal(chunk.path, undefined);
        } else {
          assert.equal(chunk.buffer, undefined);
          assert.equal(await sha256File(chunk.path!), sha256(data));
          await removeQuietly(chunk.path!);
        }
      }
    });

    it('does not keep a buffer mostly empty when big fields after the chunk made its bound loose', async function () {
      const data = randomBytes(150 * KiB);
      const body = Buffer.concat([multipart(TASK, { data, type: 'audio/wav' }).subarray(0, -CLOSING.length), fieldPart('bulky', 'x'.repeat(200 * KiB)), CLOSING]);
      const outcome = roomy.next();
      const answer = await post(roomy.port, { 'Content-Type': MULTIPART }, body);
      assert.equal(answer.status, 200);
      const chunk = (await outcome).body!.chunk!;
      assert.deepEqual(chunk.buffer, data);
      assert.equal(chunk.buffer.buffer.byteLength, data.length);
    });

    it('gives two requests chunks that share no memory, small or big, file part or text', async function () {
      const bodies = [
        multipart(TASK, { data: randomBytes(KiB), type: 'audio/wav' }),
        multipart(TASK, { data: randomBytes(KiB), type: 'audio/wav' }),
        multipart(TASK, { data: randomBytes(200 * KiB), type: 'audio/wav' }),
        multipart(TASK, { data: randomBytes(200 * KiB), type: 'audio/wav' }),
        multipart({ ...TASK, chunk: 'text one' }),
        multipart({ ...TASK, chunk: 'text two' }),
      ];
      const outcomes = bodies.map(() => roomy.next());
      const answers = await Promise.all(bodies.map((body) => post(roomy.port, { 'Content-Type': MULTIPART }, body)));
      assert.deepEqual(
        answers.map((a) => a.status),
        bodies.map(() => 200),
      );
      const buffers = (await Promise.all(outcomes)).map((o) => o.body!.chunk!.buffer!);
      assert.equal(new Set(buffers.map((b) => b.buffer)).size, buffers.length, 'two chunks share an ArrayBuffer');
      // Small ones are not cut from Node's shared pool either: their memory holds them alone.
      const small = buffers.filter((b) => b.length <= KiB);
      assert.equal(small.length, 4);
      for (const buffer of small) assert.equal(buffer.buffer.byteLength, buffer.length);
    });

    it('answers 400 to a body longer than its Content-Length (the part bigger than announced), and keeps serving', async function () {
      const data = randomBytes(200 * KiB);
      const body = multipart(TASK, { data, type: 'audio/wav' });
      const outcome = roomy.next();
      const answer = new Promise<Answer>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: roomy.port, method: 'POST', path: '/process', agent: false, headers: { 'Content-Type': MULTIPART, 'Content-Length': body.length - 1000 } },
          (res) => void readAnswer(res).then(resolve, reject),
        );
        req.on('error', () => undefined); // the server may close on the bytes past the body
        req.end(body);
      });
      const seen = await outcome;
      assert.equal(seen.error?.status, 400);
      assert.match(seen.error.message, /multipart body is truncated/);
      assert.equal(seen.listenersLeft, 0);
      assert.equal((await answer).status, 400);
      const data2 = randomBytes(200 * KiB);
      const next = roomy.next();
      assert.equal((await post(roomy.port, { 'Content-Type': MULTIPART }, multipart(TASK, { data: data2, type: 'audio/wav' }))).status, 200);
      assert.deepEqual((await next).body!.chunk!.buffer, data2);
    });

    it('survives a client that disconnects mid-chunk: 400, no listener left, and it keeps serving', async function () {
      const outcome = roomy.next();
      const reached = once(roomy.events, 'request');
      const req = http.request({ host: '127.0.0.1', port: roomy.port, method: 'POST', path: '/process', agent: false, headers: { 'Content-Type': MULTIPART, 'Content-Length': 600 * KiB } });
      req.on('error', () => undefined);
      req.write(Buffer.concat([fieldPart('chunkContext', 'x'), fileHead('chunk', 'a.bin', 'application/octet-stream'), randomBytes(300 * KiB)]));
      await reached;
      req.destroy();
      const seen = await outcome;
      assert.equal(seen.error?.status, 400);
      assert.match(seen.error.message, /closed the connection before the request body was complete/);
      assert.equal(seen.listenersLeft, 0);
      const data = randomBytes(200 * KiB);
      const next = roomy.next();
      assert.equal((await post(roomy.port, { 'Content-Type': MULTIPART }, multipart(TASK, { data, type: 'audio/wav' }))).status, 200);
      assert.deepEqual((await next).body!.chunk!.buffer, data);
    });
  });

  describe('a spill that cannot be written', function () {
    const broken = new Engine({ ...LIMITS, tmpDir: '/nonexistent/aiware-body-test' });

    before(async function () {
      broken.server.listen(0, '127.0.0.1');
      await once(broken.server, 'listening');
    });

    after(async function () {
      await new Promise((resolve) => broken.server.close(resolve));
    });

    it('answers 500 file_write_error naming the directory, so Engine Toolkit retries', async function () {
      const outcome = broken.next();
      const answer = await post(broken.port, { 'Content-Type': MULTIPART }, multipart(TASK, { data: randomBytes(200 * KiB), type: 'video/mp4' }));
      assert.equal(answer.status, 500);
      assert.match(answer.json?.error ?? '', /^could not write the chunk to a temp file in \/nonexistent\/aiware-body-test: ENOENT/);
      const seen = await outcome;
      assert.equal(seen.error?.reason, 'file_write_error');
      assert.equal(seen.listenersLeft, 0);
      // small chunks never touch the disk
      const small = await post(broken.port, { 'Content-Type': MULTIPART }, multipart(TASK, { data: randomBytes(KiB), type: 'image/png' }));
      assert.equal(small.status, 200);
      await broken.next();
    });
  });
});
