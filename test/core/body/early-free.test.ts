// The request's pieces freed as soon as the body reader is done with them (core/body/early-free.ts),
// over real HTTP: freed when the reader copied or wrote them, never while anything still holds a
// view of them (a chunk that is one piece, another listener on the request), and only in a Node
// that has ArrayBuffer.prototype.transfer (the runner's flags give Node 20 it; mocha runs with them).
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { RUNNER_NODE_FLAGS } from '@aiware-nodered/node-red-runner';
import { readProcessBody, type ReceivedBody, type BodyLimits, removeQuietly } from '../../../core';
import { FREES_EARLY, earlyFreed } from '../../../core/body/early-free';
import { encodeMultipart } from '@aiware-nodered/aiware-sim';

const KiB = 1024;
const MiB = 1024 * KiB;

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** One request read by readProcessBody in a plain node:http server; `tap` sees the request first. */
async function readOne(body: { contentType: string; bytes: Buffer }, limits: Partial<BodyLimits>, tap?: (req: http.IncomingMessage) => void): Promise<ReceivedBody> {
  let read!: Promise<ReceivedBody>;
  const server = http.createServer((req, res) => {
    tap?.(req);
    read = readProcessBody(req, limits);
    read.then(
      () => res.end('ok'),
      () => res.writeHead(400).end(),
    );
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/process', headers: { 'content-type': body.contentType, 'content-length': body.bytes.length } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      // In 64 KiB writes, so the server reads the body in many pieces.
      for (let at = 0; at < body.bytes.length; at += 64 * KiB) req.write(body.bytes.subarray(at, at + 64 * KiB));
      req.end();
    });
    assert.equal(status, 200);
    return await read;
  } finally {
    server.close();
    server.closeAllConnections();
  }
}

function form(chunk: Buffer): { contentType: string; bytes: Buffer } {
  const { body, contentType } = encodeMultipart({ taskId: 't1', chunkMimeType: 'application/octet-stream' }, { data: chunk, filename: 'chunk.bin', mimeType: 'application/octet-stream' });
  return { contentType, bytes: body };
}

describe('early freeing of request pieces (core/early-free)', function () {
  before(function () {
    // Every test here is about a Node that can free early: the suite runs with the runner's flags.
    assert.ok(FREES_EARLY, 'mocha runs without ArrayBuffer.prototype.transfer: see .mocharc.cjs');
  });

  it('frees the pieces it copied into a chunk read into memory, and the chunk is whole', async function () {
    const chunk = randomBytes(2 * MiB);
    const before = earlyFreed.pieces;
    const body = await readOne(form(chunk), { memoryChunkBytes: 8 * MiB });
    assert.equal(sha(body.chunk!.buffer!), sha(chunk));
    // 2 MiB read in pieces of at most 64 KiB: most of them freed.
    assert.ok(earlyFreed.pieces - before >= 16, `freed ${earlyFreed.pieces - before} pieces`);
  });

  it('frees the pieces a spilled chunk wrote to its file once written, and the file is whole', async function () {
    const chunk = randomBytes(3 * MiB);
    const before = earlyFreed.pieces;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'early-free-'));
    try {
      const body = await readOne(form(chunk), { memoryChunkBytes: 64 * KiB, tmpDir: dir });
      assert.equal(body.chunk!.buffer, undefined);
      assert.equal(sha(fs.readFileSync(body.chunk!.path!)), sha(chunk));
      await removeQuietly(body.chunk!.path!);
      assert.ok(earlyFreed.pieces - before >= 16, `freed ${earlyFreed.pieces - before} pieces`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('frees the pieces a chunk under the preallocation size came in once they are joined into its own buffer', async function () {
    // 100 KiB, under PREALLOCATE_FROM: held as views of the pieces, copied into one buffer at its end.
    const chunk = randomBytes(100 * KiB);
    const before = earlyFreed.pieces;
    const body = await readOne(form(chunk), { memoryChunkBytes: 8 * MiB });
    assert.equal(sha(body.chunk!.buffer!), sha(chunk));
    assert.ok(earlyFreed.pieces - before >= 2, `freed ${earlyFreed.pieces - before} pieces`);
  });

  it('frees the piece a small chunk was copied out of, and the chunk is whole', async function () {
    // A 1 KiB chunk is copied out of Node's shared pool sizes into memory of its own (core/own-buffer).
    const chunk = randomBytes(KiB);
    const before = earlyFreed.pieces;
    const body = await readOne(form(chunk), { memoryChunkBytes: 8 * MiB });
    assert.equal(sha(body.chunk!.buffer!), sha(chunk));
    assert.ok(earlyFreed.pieces - before >= 1, `freed ${earlyFreed.pieces - before} pieces`);
  });

  it('does not free a chunk that is the piece itself', async function () {
    // Under PREALLOCATE_FROM: the chunk is kept as the socket's piece, or the pieces joined.
    const chunk = randomBytes(20 * KiB);
    const body = await readOne(form(chunk), { memoryChunkBytes: 8 * MiB });
    assert.equal(body.chunk!.buffer!.length, chunk.length);
    assert.equal(sha(body.chunk!.buffer!), sha(chunk));
  });

  it('frees nothing when another listener reads the request too, which sees every byte', async function () {
    const chunk = randomBytes(2 * MiB);
    const sent = form(chunk);
    const before = earlyFreed.pieces;
    const seen: Buffer[] = [];
    const body = await readOne(sent, { memoryChunkBytes: 8 * MiB }, (req) => req.on('data', (piece: Buffer) => seen.push(piece)));
    assert.equal(earlyFreed.pieces, before);
    assert.equal(sha(Buffer.concat(seen)), sha(sent.bytes));
    assert.equal(sha(body.chunk!.buffer!), sha(chunk));
  });

  it('is on in a Node started as the runner is, with no flag of its own (Node 22+ has transfer natively)', function () {
    const script = `process.stdout.write(String(require(${JSON.stringify(require.resolve('../../../core/body/early-free'))}).FREES_EARLY))`;
    assert.equal(execFileSync(process.execPath, [...RUNNER_NODE_FLAGS, '-e', script], { encoding: 'utf8' }), 'true');
    assert.equal(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }), 'true');
    assert.ok(!RUNNER_NODE_FLAGS.some((flag) => flag.startsWith('--harmony')), 'no staged-feature flag: Node 22+ refuses --harmony-rab-gsab-transfer');
  });
});
