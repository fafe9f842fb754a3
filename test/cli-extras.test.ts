// `aiware-sim run` with what else ET gives an engine: a run's chunks share a job, so job keys span
// them and the summary lists the keys set per job; --chunk-metadata and --send-output-to forward
// each output with its x-aiware- headers; --library-model serves a model to library-run tasks.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { sim } from './support/sim-cli';

const EXAMPLES = path.join(PACK_DIR, 'examples');

const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

describe('aiware-sim run: keys, chunk metadata, forwarding, library models', function () {
  this.timeout(90_000);
  let scratch: string;
  before(function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-cli-extras-'));
  });
  after(function () {
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('runs the word-count example as one job, lists its keys, and forwards each answer with the x-aiware- metadata', async function () {
    const arrived: { url: string; trace?: string | string[] }[] = [];
    const notify = http.createServer((req, res) => {
      req.resume();
      arrived.push({ url: req.url ?? '', trace: req.headers['x-aiware-trace'] });
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => notify.listen(0, '127.0.0.1', resolve));
    const uri = `http://127.0.0.1:${(notify.address() as AddressInfo).port}/notify`;
    try {
      const out = path.join(scratch, 'count');
      const inputs = path.join(PACK_DIR, 'samples', 'keys-running-word-count');
      const run = await sim(['run', '--runtime', path.join(EXAMPLES, 'keys-running-word-count.json'), inputs, '--out', out, '--chunk-metadata', 'x-aiware-trace=run-1', '--send-output-to', uri]);
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      // The folder's inputs: its aiware-sim test file and expected/ are not.
      const files = fs.readdirSync(inputs).filter((f) => f.endsWith('.txt'));
      const summary = readJson<{ keys: Record<string, { scope: string; key: string; sets: number }[]>; forwarded: { status: number; headers: Record<string, string> }[] }>(
        path.join(out, 'summary.json'),
      );
      const jobs = Object.entries(summary.keys);
      assert.equal(jobs.length, 1, 'the run is one job');
      assert.deepEqual(
        jobs[0][1].map((k) => [k.scope, k.key, k.sets]),
        [['job', 'wordCount', files.length]],
      );
      assert.deepEqual(readJson(path.join(out, 'keys.json')), summary.keys);
      assert.equal(summary.forwarded.length, files.length);
      assert.ok(summary.forwarded.every((f) => f.status === 204 && f.headers['x-aiware-trace'] === 'run-1'));
      assert.equal(readJson<unknown[]>(path.join(out, 'forwarded.json')).length, files.length);
      assert.equal(arrived.length, files.length);
      assert.ok(arrived.every((a) => a.trace === 'run-1' && a.url.startsWith(`/notify/internalJobID=${jobs[0][0]}&`)));
      assert.match(run.stdout, /keys set \(key proxy\)\n {2}job-[\w-]+: wordCount ×\d+/);
      assert.match(run.stdout, new RegExp(`forwarded outputs \\(sendOutputToUris\\)\\n {2}${uri.replace(/[.]/g, '\\.')}: ${files.length} delivered`));
    } finally {
      await new Promise<void>((resolve) => notify.close(() => resolve()));
    }
  });

  it('runs library-run tasks on a --library-model file, downloaded once into --library-dir', async function () {
    const model = path.join(scratch, 'model.json');
    fs.writeFileSync(model, JSON.stringify({ vocabulary: ['fox', 'engine'] }));
    const libraryDir = path.join(scratch, 'libraries');
    const out = path.join(scratch, 'library');
    const run = await sim([
      'run',
      '--runtime',
      path.join(EXAMPLES, 'library-train-then-run.json'),
      path.join(PACK_DIR, 'samples', 'chunk-text-to-transcript'),
      '--out',
      out,
      '--library-model',
      model,
      '--library-dir',
      libraryDir,
    ]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.equal(fs.readFileSync(path.join(libraryDir, 'sim-library', 'sim-model', 'model'), 'utf8'), fs.readFileSync(model, 'utf8'));
    const summary = readJson<{ tasks: { input: string; status: string }[] }>(path.join(out, 'summary.json'));
    assert.ok(
      summary.tasks.some((t) => t.status === 'answered'),
      JSON.stringify(summary.tasks),
    );
    assert.ok(summary.tasks.every((t) => t.status === 'answered' || t.status === 'ignored'));
  });

  it('refuses a --chunk-metadata without a name and a --library-model that does not exist', async function () {
    const bad = await sim(['run', '--runtime', path.join(EXAMPLES, 'keys-running-word-count.json'), '--chunk-metadata', 'novalue']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--chunk-metadata takes name=value/);
    const missing = await sim(['run', '--runtime', path.join(EXAMPLES, 'library-train-then-run.json'), '--library-model', path.join(scratch, 'nope.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--library-model: .* does not exist/);
  });
});
