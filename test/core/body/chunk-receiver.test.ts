// The chunk part on its way in (core/body/chunk-receiver.ts), fed as the multipart parser feeds it:
// in memory of its own under memoryChunkBytes (preallocated at a known bound, joined without one),
// spilled to a temp file past it with the request paused while the file opens, and discarded whole.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveLimits, type ProtocolError } from '../../../core';
import { ChunkReceiver, PREALLOCATE_FROM } from '../../../core/body/chunk-receiver';
import type { ReceivedChunk } from '../../../core/body/received';

describe('the chunk part on its way in (core/body/chunk-receiver.ts)', function () {
  let dir: string;
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-receiver-'));
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Feeds `bytes` in `pieceSize` pieces, then the end; resolves with the chunk or rejects with the failure. */
  function receive(
    bytes: Buffer,
    pieceSize: number,
    options: { memoryChunkBytes?: number; bound?: number; spillAtOnce?: boolean } = {},
  ): { result: Promise<ReceivedChunk>; paused: () => number; receiver: ChunkReceiver } {
    let pauses = 0;
    let receiver!: ChunkReceiver;
    const result = new Promise<ReceivedChunk>((resolve, reject) => {
      const limits = resolveLimits({ memoryChunkBytes: options.memoryChunkBytes ?? 1024 * 1024, tmpDir: dir });
      const flow = { pause: () => void pauses++, resume: () => undefined };
      receiver = new ChunkReceiver(
        'c.bin',
        'application/octet-stream',
        limits,
        options.spillAtOnce ?? false,
        options.bound,
        {},
        flow,
        resolve,
        (err: ProtocolError) => reject(err),
        () => undefined,
      );
      for (let at = 0; at < bytes.length; at += pieceSize) receiver.write(bytes.subarray(at, at + pieceSize));
      receiver.write(null);
    });
    return { result, paused: () => pauses, receiver };
  }

  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_unused, i) => (i * 7) % 256));

  it('keeps a chunk under memoryChunkBytes in memory of its own, with or without a bound', async function () {
    for (const bound of [undefined, PREALLOCATE_FROM * 2]) {
      const data = bytes(PREALLOCATE_FROM * 2);
      const chunk = await receive(data, 16 * 1024, { bound }).result;
      assert.equal(chunk.path, undefined);
      assert.equal(chunk.size, data.length);
      assert.ok(chunk.buffer!.equals(data), `bound ${bound}`);
      assert.equal(chunk.filename, 'c.bin');
      assert.equal(chunk.mimeType, 'application/octet-stream');
    }
  });

  it('spills a chunk past memoryChunkBytes to a temp file in tmpDir, whole, pausing the request while the file opens', async function () {
    const data = bytes(300 * 1024);
    const { result, paused } = receive(data, 10 * 1024, { memoryChunkBytes: 100 * 1024 });
    const chunk = await result;
    assert.equal(chunk.buffer, undefined);
    assert.equal(path.dirname(chunk.path!), dir);
    assert.ok(fs.readFileSync(chunk.path!).equals(data));
    assert.ok(paused() > 0, 'backpressure reached the request');
  });

  it('spills at once when asked to, and a discarded chunk leaves no file', async function () {
    const data = bytes(1000);
    const chunk = await receive(data, 100, { spillAtOnce: true }).result;
    assert.ok(fs.readFileSync(chunk.path!).equals(data));
    fs.rmSync(chunk.path!);

    const { receiver } = receive(bytes(300 * 1024), 10 * 1024, { memoryChunkBytes: 100 * 1024 });
    await receiver.discard();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});
