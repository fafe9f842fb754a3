// The chunk as a file (core/body/chunk-file.ts): an in-memory chunk written to a temp file once, a spilled one's own path.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { chunkToFile, removeQuietly } from '../../../core';

const KiB = 1024;

describe('the chunk as a file (core/body/chunk-file.ts)', function () {
  let scratch = '';

  before(async function () {
    scratch = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'aiware-chunk-file-test-'));
  });

  after(async function () {
    await fs.promises.rm(scratch, { recursive: true, force: true });
  });

  it('writes an in-memory chunk to a temp file once, with chunkToFile', async function () {
    const data = randomBytes(3 * KiB);
    const chunk = { buffer: data, size: data.length, filename: 'speech.wav' };
    const file = await chunkToFile(chunk, scratch);
    try {
      assert.equal(path.dirname(file), scratch);
      assert.match(path.basename(file), /^aiware-chunk-.*\.wav$/);
      assert.deepEqual(await fs.promises.readFile(file), data);
      assert.equal(await chunkToFile(chunk, scratch), file, 'a second call writes another file');
    } finally {
      await removeQuietly(file);
    }
    await assert.rejects(fs.promises.stat(file), { code: 'ENOENT' });
    await removeQuietly(file); // already gone: quiet
  });

  it('gives a spilled chunk its own path from chunkToFile', async function () {
    assert.equal(await chunkToFile({ path: '/some/where', size: 1 }), '/some/where');
  });
});
