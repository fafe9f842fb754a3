// Durable writes (core/util/durable.ts): a file written whole or not at all, a file created by one
// caller of many, never seen half written, and a tree flushed before its completion mark.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createDurably, syncDir, syncTree, tempBeside, writeFileDurably } from '../../../core/util/durable';

describe('durable writes (core/util/durable.ts)', function () {
  let dir: string;
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-durable-'));
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes a file whole, replaces it whole, and leaves no temp file', async function () {
    const file = path.join(dir, 'wait.json');
    await writeFileDurably(file, '{"a":1}', dir);
    await writeFileDurably(file, '{"a":2,"b":"two"}', dir);
    assert.equal(fs.readFileSync(file, 'utf8'), '{"a":2,"b":"two"}');
    assert.deepEqual(fs.readdirSync(dir), ['wait.json']);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });

  it('leaves nothing behind when the folder is gone', async function () {
    const gone = path.join(dir, 'gone');
    await assert.rejects(writeFileDurably(path.join(gone, 'x.json'), 'x', gone), { code: 'ENOENT' });
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('creates a file for exactly one of 20 callers at once, with that caller’s whole content', async function () {
    const file = path.join(dir, 'claim.json');
    const results = await Promise.all(Array.from({ length: 20 }, (_unused, i) => createDurably(file, JSON.stringify({ caller: i, pad: 'x'.repeat(10_000) }), dir)));
    assert.equal(results.filter(Boolean).length, 1);
    const winner = results.indexOf(true);
    assert.equal((JSON.parse(fs.readFileSync(file, 'utf8')) as { caller: number }).caller, winner);
    assert.deepEqual(fs.readdirSync(dir), ['claim.json'], 'no temp file left');
  });

  it('names temp files beside their file, unique per call, ending in .tmp', function () {
    const a = tempBeside('/x/wait.json');
    const b = tempBeside('/x/wait.json');
    assert.notEqual(a, b);
    assert.match(a, /^\/x\/wait\.json\.\d+\.[0-9a-f]{8}\.tmp$/);
  });

  it('flushes a tree of files and folders, and a folder alone', async function () {
    fs.mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
    for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(dir, 'a', i % 2 ? 'b' : '', `f${i}`), String(i));
    fs.symlinkSync(path.join(dir, 'a'), path.join(dir, 'link'));
    await syncTree(dir);
    await syncDir(dir);
    assert.equal(fs.readFileSync(path.join(dir, 'a', 'b', 'f49'), 'utf8'), '49');
    await assert.rejects(syncTree(path.join(dir, 'missing')), { code: 'ENOENT' });
  });
});
