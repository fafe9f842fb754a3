// Library models on disk (core/services/library-model.ts): the folder layout, a retrained model
// replaced whole, a full disk that leaves no half model.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { execFile, execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { modelLocation, storeModel, parseProcessFields, publish, tracer } from '../../../core';
import { ROOT_CONTEXT, context, trace } from '@opentelemetry/api';
import { parentOf, useMemoryTracing } from '../../support/otel-memory';
import { serve } from '../../support/loopback';

describe('library models on disk (core/services/library-model.ts)', function () {
  let root: string;
  beforeEach(function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-model-core-'));
  });
  afterEach(function () {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('puts a model at {libraryModelDirectory}/{libraryId}/{libraryEngineModelId}, or in the folder ET gave when it already names both', function () {
    const { fields } = parseProcessFields({ libraryModelDirectory: root, payload: '{"libraryId":"L","libraryEngineModelId":"M"}' });
    assert.equal(modelLocation(fields, fields.payload).path, path.join(root, 'L', 'M', 'model'));
    const given = parseProcessFields({ libraryModelDirectory: path.join(root, 'L', 'M'), libraryId: 'L', libraryEngineModelId: 'M' }).fields;
    assert.equal(modelLocation(given).directory, path.join(root, 'L', 'M'));
    const escape = parseProcessFields({ libraryModelDirectory: root, libraryId: '..', libraryEngineModelId: 'M' }).fields;
    assert.throws(() => modelLocation(escape), /cannot name a folder/);
  });

  it('replaces a retrained model whole', async function () {
    const { fields } = parseProcessFields({ libraryModelDirectory: root, libraryId: 'L', libraryEngineModelId: 'M' });
    const location = modelLocation(fields);
    await storeModel(location, Buffer.from('v1'), 'training', { deadline: Date.now() + 5000 });
    const second = await storeModel(location, Buffer.from('v2'), 'training', { deadline: Date.now() + 5000 });
    assert.equal(fs.readFileSync(second.path, 'utf8'), 'v2');
    assert.deepEqual(fs.readdirSync(path.join(root, 'L')), ['M']);
  });

  it('fails a fetch that fills the disk with file_write_error and leaves no half model (a 64 KiB tmpfs)', async function () {
    // A real full disk: a tmpfs of 64 KiB mounted in a user and mount namespace of a child of its own.
    try {
      execFileSync('unshare', ['-rm', 'true'], { stdio: 'ignore' });
    } catch {
      this.skip(); // no user namespaces here: the full disk cannot be made without root
    }
    const server = await serve((req, res) => {
      req.resume();
      const body = Buffer.alloc(512 * 1024, 1);
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
    });
    try {
      const script = path.join(__dirname, '..', '..', 'support', 'full-disk-child.js');
      const shell = 'mount -t tmpfs -o size=64k tmpfs "$1" && exec "$2" "$3" "$1" "$4"';
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile('unshare', ['-rm', 'sh', '-c', shell, 'sh', root, process.execPath, script, `${server.url}/model`], { timeout: 30_000 }, (err, out, errText) =>
          err ? reject(new Error(`${err.message}: ${errText}`)) : resolve(out),
        ),
      );
      const outcome = JSON.parse(stdout) as { ok: boolean; reason?: string; message?: string; left?: string[] };
      assert.equal(outcome.ok, false);
      assert.equal(outcome.reason, 'file_write_error', outcome.message);
      assert.match(outcome.message ?? '', /the disk is full/);
      assert.deepEqual(outcome.left, [], 'neither a staging folder nor the lock is left on the full disk');
    } finally {
      await server.close();
    }
  });

  describe('traced', function () {
    const memory = useMemoryTracing();

    it('publishes a fetched model in a span of its own under the active one, the download its child, with sizes and the host but no URL', async function () {
      const body = Buffer.alloc(4096, 7);
      const server = await serve((req, res) => {
        req.resume();
        res.writeHead(200, { 'Content-Length': body.length }).end(body);
      });
      try {
        const { fields } = parseProcessFields({ libraryModelDirectory: root, libraryId: 'L', libraryEngineModelId: 'M' });
        const node = tracer().startSpan('node aiware-library-model');
        await context.with(trace.setSpan(ROOT_CONTEXT, node), () => publish(modelLocation(fields), { kind: 'url', url: `${server.url}/model?sig=secret-signature` }, { deadline: Date.now() + 5000 }));
        node.end();
      } finally {
        await server.close();
      }
      const spans = new Map(memory.spans().map((span) => [span.name, span]));
      const published = spans.get('aiware model publish')!;
      const download = spans.get('aiware model download')!;
      assert.equal(parentOf(published), spans.get('node aiware-library-model')!.spanContext().spanId);
      assert.equal(parentOf(download), published.spanContext().spanId);
      assert.equal(download.attributes['aiware.model.bytes'], body.length);
      assert.equal(download.attributes['server.address'], '127.0.0.1');
      assert.equal(published.attributes['aiware.model.source'], 'url');
      assert.ok(!JSON.stringify(memory.spans().map((span) => span.attributes)).includes('secret-signature'));
    });
  });
});
