// Reading a multipart /process body (core/body/multipart.ts) straight from a real request: the
// fields, the chunk in memory of its own or spilled when the body announces more than fits, other
// file parts read past, and a second chunk refused. The reader in front of it (readProcessBody,
// content types, limits over HTTP) is test/core/body/reader.test.ts.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ProtocolError, removeQuietly, resolveLimits, type BodyLimits, type ReceivedBody } from '../../../core';
import { contentLength } from '../../../core/http/headers';
import { readMultipart } from '../../../core/body/multipart';
import { PREALLOCATE_FROM } from '../../../core/body/chunk-receiver';
import { request, serve, type Loopback } from '../../support/loopback';

const B = 'multipartTestBoundary';
const field = (name: string, value: string): string => `--${B}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
const file = (name: string, data: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`), data, Buffer.from('\r\n')]);
const CLOSE = `--${B}--\r\n`;

describe('multipart bodies (core/body/multipart.ts)', function () {
  let server: Loopback;
  let limits: BodyLimits;
  let outcome: ReceivedBody | ProtocolError | undefined;
  let dir: string;

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-multipart-'));
    server = await serve((req, res) => {
      readMultipart(req, limits, contentLength(req)).then(
        (body) => ((outcome = body), res.end()),
        (err: ProtocolError) => ((outcome = err), res.writeHead(err.status, { Connection: 'close' }).end()),
      );
    });
  });

  after(async function () {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function send(body: Buffer): Promise<ReceivedBody | ProtocolError> {
    outcome = undefined;
    await request(server.url, { body, headers: { 'Content-Type': `multipart/form-data; boundary=${B}` } });
    return outcome!;
  }

  beforeEach(function () {
    limits = resolveLimits({ memoryChunkBytes: 1024 * 1024, tmpDir: dir });
  });

  it('reads the fields, and a chunk of PREALLOCATE_FROM bytes or more into memory allocated at its bound, holding nothing else', async function () {
    const data = randomBytes(PREALLOCATE_FROM + 5);
    const got = (await send(Buffer.concat([Buffer.from(field('chunkContext', 'ctx')), file('chunk', data), Buffer.from(CLOSE)]))) as ReceivedBody;
    assert.deepEqual(got.raw, { chunkContext: 'ctx' });
    assert.ok(got.chunk!.buffer!.equals(data));
    const memory = Buffer.from(got.chunk!.buffer!.buffer as ArrayBuffer);
    assert.equal(got.chunk!.buffer!.byteOffset, 0);
    assert.ok(memory.length < data.length + 512, 'at most the rest of the body past the chunk');
    assert.ok(
      memory.subarray(data.length).every((byte) => byte === 0),
      'the room past the chunk is zeros',
    );
  });

  it('spills a chunk to a file from its first byte when the body announces more than memoryChunkBytes', async function () {
    limits = resolveLimits({ memoryChunkBytes: 1024, tmpDir: dir });
    const data = randomBytes(2048);
    const got = (await send(Buffer.concat([file('chunk', data), Buffer.from(CLOSE)]))) as ReceivedBody;
    try {
      assert.equal(got.chunk!.buffer, undefined);
      assert.equal(path.dirname(got.chunk!.path!), dir);
      assert.ok(fs.readFileSync(got.chunk!.path!).equals(data));
    } finally {
      await removeQuietly(got.chunk!.path!);
    }
  });

  it('reads past a file part that is not the chunk, and keeps the text chunk curl -F chunk=text sends', async function () {
    const got = (await send(Buffer.concat([file('thumbnail', randomBytes(100)), Buffer.from(field('chunk', 'plain text')), Buffer.from(CLOSE)]))) as ReceivedBody;
    assert.deepEqual(got.raw, {});
    assert.equal(got.chunk!.buffer!.toString(), 'plain text');
    assert.equal(got.chunk!.mimeType, 'text/plain');
  });

  it('refuses a second chunk with 400', async function () {
    const err = await send(Buffer.concat([file('chunk', Buffer.from('a')), file('chunk', Buffer.from('b')), Buffer.from(CLOSE)]));
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.status, 400);
    assert.match(err.message, /chunk/);
  });

  it('refuses a body with no closing boundary as truncated', async function () {
    const err = await send(Buffer.from(field('a', '1')));
    assert.ok(err instanceof ProtocolError);
    assert.match(err.message, /multipart body is truncated/);
  });
});
