// A library model shared by engine instances, as on one aiWARE node: separate runner processes
// that see the same libraryModelDirectory. Two starting together fetch the model once; one
// started later, with the platform unreachable, uses the model on disk.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { startRunner, type RunnerProcess } from './support/runner';

const example = (name: string) => JSON.parse(fs.readFileSync(path.join(PACK_DIR, 'examples', name), 'utf8')) as Record<string, unknown>[];

describe('a library model shared by engine instances (separate processes)', function () {
  this.timeout(120_000);
  let toolkit: ToolkitEmulator;
  const runners: RunnerProcess[] = [];

  before(async function () {
    toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
  });
  after(async function () {
    await Promise.all(runners.splice(0).map((r) => r.kill()));
    await toolkit.stop();
  });

  it('is fetched once by two instances starting together, and reused offline by an instance started later', async function () {
    const runtime = example('library-train-then-run.json');
    const library = { libraryId: 'lib-shared', libraryEngineModelId: 'model-shared' };
    // Large enough that the two fetches would overlap if both made one: a few MiB of vocabulary.
    const vocabulary = Array.from({ length: 200_000 }, (_, i) => `word${i}`).concat(['engine']);
    const model = JSON.stringify({ vocabulary });
    toolkit.serveModel(library.libraryId, library.libraryEngineModelId, { data: model });

    const [a, b] = [startRunner(runtime), startRunner(runtime)];
    runners.push(a, b);
    const urls = await Promise.all([a.ready(), b.ready()]);
    const answers = await Promise.all(
      urls.map((url) => toolkit.process(`${url}/process`, toolkit.workItem({ payload: JSON.stringify({ mode: 'library-run' }), ...library }), { data: 'an engine', mimeType: 'text/plain' })),
    );
    for (const answer of answers) {
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(
        (answer.body as { series: { words: { word: string }[] }[] }).series.map((s) => s.words[0].word),
        ['engine'],
      );
    }
    assert.equal(toolkit.modelDownloads(library.libraryId, library.libraryEngineModelId), 1, 'one instance fetched, the other waited for it');
    const folder = path.join(toolkit.libraryModelDirectory, library.libraryId);
    assert.deepEqual(fs.readdirSync(folder), [library.libraryEngineModelId], 'no staging folder or lock left behind');
    assert.equal(fs.readFileSync(path.join(folder, library.libraryEngineModelId, 'model'), 'utf8'), model, 'the model is whole');

    await Promise.all([a.kill(), b.kill()]);
    // The platform no longer serves the model: a new instance must find it on disk.
    toolkit.serveModel(library.libraryId, library.libraryEngineModelId, undefined);
    const c = startRunner(runtime);
    runners.push(c);
    const url = await c.ready();
    const later = await toolkit.process(`${url}/process`, toolkit.workItem({ payload: JSON.stringify({ mode: 'library-run' }), ...library }), { data: 'engine again', mimeType: 'text/plain' });
    assert.equal(later.status, 200, JSON.stringify(later.body));
    assert.equal(toolkit.modelDownloads(library.libraryId, library.libraryEngineModelId), 1);
  });
});
