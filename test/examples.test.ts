// Every example flow in examples/: importable together into one Node-RED, and run end to end under the
// runner with Engine Toolkit's default variables (VERITONE_WEBHOOK_PROCESS on /process), as shipped.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACK_DIR, type FlowConfig } from '@aiware-nodered/node-red-runner';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { deploy, logged } from './support/engine';
import { ReviewService, post } from './support/review';
import { OutsideService } from '@aiware-nodered/aiware-sim';
import { startRunner, type RunnerProcess } from './support/runner';

const EXAMPLES = path.join(PACK_DIR, 'examples');
const SAMPLES = path.join(PACK_DIR, 'samples');
const FILES = fs
  .readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.json'))
  .sort();

function example(file: string): FlowConfig {
  return JSON.parse(fs.readFileSync(path.join(EXAMPLES, file), 'utf8')) as FlowConfig;
}

const sample = (name: string, file: string) => fs.readFileSync(path.join(SAMPLES, name, file));
/** A sample folder's text inputs, sorted (beside them: its aiware-sim test file and expected/). */
const textInputs = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort();

describe('examples', function () {
  let toolkit: ToolkitEmulator;
  // One runner per example, started when a test first needs it.
  const runners = new Map<string, { runner: RunnerProcess; url: Promise<string> }>();
  async function processUrl(file: string): Promise<string> {
    let entry = runners.get(file);
    if (!entry) {
      const runner = startRunner(example(file));
      entry = { runner, url: runner.ready() };
      runners.set(file, entry);
    }
    return `${await entry.url}/process`;
  }

  before(async function () {
    toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
  });
  after(async function () {
    await Promise.all([...runners.values()].map((r) => r.runner.kill()));
    await toolkit.stop();
  });

  describe('together', function () {
    it('each has a comment, sample inputs and one aiware-process-in on a path of its own; examples/ has no folder', function () {
      assert.deepEqual(
        fs.readdirSync(EXAMPLES, { withFileTypes: true }).filter((e) => e.isDirectory()),
        [],
        'Node-RED lists every folder of examples/ under Import > Examples',
      );
      const paths = new Map<string, string>();
      const ids = new Map<string, string>();
      for (const file of FILES) {
        const nodes = example(file);
        assert.ok(
          nodes.some((n) => n.type === 'comment' && typeof n.info === 'string' && n.info.length > 0),
          `${file} has a comment node that explains it`,
        );
        const samples = path.join(SAMPLES, file.replace(/\.json$/, ''));
        assert.ok(fs.existsSync(samples) && fs.readdirSync(samples).length > 0, `${file} has sample inputs in ${path.relative(PACK_DIR, samples)}`);
        const processIns = nodes.filter((n) => n.type === 'aiware-process-in');
        assert.ok(processIns.length >= 1, `${file} has an aiware-process-in`);
        for (const node of processIns) {
          const url = String(node.url);
          assert.ok(!paths.has(url), `${file} and ${paths.get(url)} both serve ${url}`);
          paths.set(url, file);
        }
        for (const node of nodes) {
          assert.ok(!ids.has(String(node.id)), `${file} and ${ids.get(String(node.id))} both have a node ${String(node.id)}`);
          ids.set(String(node.id), file);
        }
      }
    });

    it('deploy into one Node-RED with every process-in serving its path and nothing logged as an error', async function () {
      const all = FILES.flatMap((file) => example(file));
      const { red } = await deploy(all);
      const runtime = red.handle.runtime!;
      for (const node of all.filter((n) => n.type === 'aiware-process-in')) assert.equal(runtime.owner('post', String(node.url)), node.id);
      assert.deepEqual(
        logged.filter((l) => l.level <= 20),
        [],
      );
      await deploy([]);
    });
  });

  describe("each under the runner with ET's default variables", function () {
    for (const file of FILES) {
      it(`${file} is served on /process, whatever its own path`, async function () {
        const url = await processUrl(file);
        const own = String(example(file).find((n) => n.type === 'aiware-process-in')!.url);
        assert.equal(runners.get(file)!.runner.lines.find((l) => l.msg === 'ready')?.processIn, own);
        assert.equal((await fetch(url.replace(/\/process$/, '/readyz'))).status, 200);
      });
    }
  });

  it('chunk-text-to-transcript answers each sample input with a transcript over its offsets', async function () {
    const url = await processUrl('chunk-text-to-transcript.json');
    const inputs = path.join(SAMPLES, 'chunk-text-to-transcript');
    for (const file of textInputs(inputs)) {
      const text = fs.readFileSync(path.join(inputs, file), 'utf8');
      const item = toolkit.workItem({ startOffsetMS: '10000', endOffsetMS: '20000' });
      const answer = await toolkit.process(url, item, { data: text, mimeType: 'text/plain' });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const series = (answer.body as { series: { startTimeMs: number; stopTimeMs: number; words: { word: string }[] }[] }).series;
      assert.deepEqual(
        series.map((s) => s.words[0].word),
        text.split(/\s+/).filter(Boolean),
      );
      assert.equal(series[0].startTimeMs, 10000);
      assert.equal(series.at(-1)!.stopTimeMs, 20000);
    }
    const blank = await toolkit.process(url, toolkit.workItem(), { data: '   ', mimeType: 'text/plain' });
    assert.equal(blank.status, 204, 'a chunk with no words is ignored');
    const image = await toolkit.process(url, toolkit.workItem(), { data: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]), mimeType: 'image/png' });
    assert.equal(image.status, 500);
    assert.deepEqual(image.body, { error: 'this engine reads text chunks, not image/png', failureReason: 'invalid_data' }, 'failed as invalid_data, not read as words');
  });

  it('chunk-image-objects answers at once and posts one object per image, labelled by its shape; not an image fails as invalid_data', async function () {
    const url = await processUrl('chunk-image-objects.json');
    for (const [file, label] of [
      ['landscape.png', 'landscape image 32x18'],
      ['portrait.png', 'portrait image 9x16'],
    ]) {
      const item = toolkit.workItem({ startOffsetMS: '0', endOffsetMS: '1000' });
      const answer = await toolkit.process(url, item, { data: sample('chunk-image-objects', file), mimeType: 'image/png', filename: file });
      assert.equal(answer.status, 200);
      assert.equal(typeof (answer.body as { estimatedProcessingTimeInSeconds?: unknown }).estimatedProcessingTimeInSeconds, 'number', 'asynchronous: an estimate at once');
      const record = await toolkit.waitForTask(item.taskId);
      assert.equal(record.status, 'complete');
      assert.equal(record.results.length, 1);
      const output = record.results[0].output as { series: { object: { label: string } }[] };
      assert.equal(output.series[0].object.label, label);
      assert.deepEqual(record.violations, []);
    }
    for (const [data, mimeType, message] of [
      [sample('chunk-image-objects', 'not-an-image.txt'), 'text/plain', /reads PNG or JPEG images, not text\/plain/],
      [Buffer.from('not really a png'), 'image/png', /is not a readable PNG/],
    ] as const) {
      const item = toolkit.workItem();
      await toolkit.process(url, item, { data, mimeType });
      const record = await toolkit.waitForTask(item.taskId);
      assert.deepEqual([record.status, record.failureReason, record.results.length], ['failed', 'invalid_data', 0]);
      assert.match(record.failureMsg ?? '', message);
    }
  });

  it('stream-lines-from-cache sends a result per line of cacheURI and completes; no cache or not text fails with the reason', async function () {
    const url = await processUrl('stream-lines-from-cache.json');
    const item = toolkit.workItem();
    toolkit.setCache(item.taskId, { data: sample('stream-lines-from-cache', 'lines.txt'), mimeType: 'text/plain' });
    assert.equal((await toolkit.process(url, item)).status, 200);
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete');
    assert.deepEqual(
      record.results.map((r) => [r.index, r.startOffsetMs, r.endOffsetMs]),
      [
        [1, 0, 1000],
        [2, 1000, 2000],
        [3, 2000, 3000],
      ],
    );
    assert.deepEqual(record.violations, []);

    const empty = toolkit.workItem();
    toolkit.setCache(empty.taskId, { data: '\n', mimeType: 'text/plain' });
    await toolkit.process(url, empty);
    const emptyRecord = await toolkit.waitForTask(empty.taskId);
    assert.equal(emptyRecord.status, 'complete');
    assert.equal(emptyRecord.results.length, 0);
    // No cache at all (the emulator answers 404), and a cache that is not text: failed with the reason, never a transcript.
    const missing = toolkit.workItem();
    await toolkit.process(url, missing);
    const missingRecord = await toolkit.waitForTask(missing.taskId);
    assert.deepEqual([missingRecord.status, missingRecord.failureReason, missingRecord.results.length], ['failed', 'url_not_found', 0]);
    assert.match(missingRecord.failureMsg ?? '', /cacheURI answered 404/);
    const binary = toolkit.workItem();
    toolkit.setCache(binary.taskId, { data: Buffer.from([0, 1, 2, 255]), mimeType: 'image/png' });
    await toolkit.process(url, binary);
    const binaryRecord = await toolkit.waitForTask(binary.taskId);
    assert.deepEqual([binaryRecord.status, binaryRecord.failureReason, binaryRecord.results.length], ['failed', 'invalid_data', 0]);
  });

  it('batch-progress-and-failure reports each step, completes, and fails a bad payload at once', async function () {
    const url = await processUrl('batch-progress-and-failure.json');
    const item = toolkit.workItem({ payload: sample('batch-progress-and-failure', 'payload.json').toString() });
    await toolkit.process(url, item);
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete');
    // The automatic running heartbeats repeat the latest infoMsg: look at the changes only.
    const steps = record.heartbeats.map((h) => h.infoMsg).filter((info, i, all) => info?.startsWith('step') && info !== all[i - 1]);
    assert.deepEqual(steps, ['step 1 of 5', 'step 2 of 5', 'step 3 of 5', 'step 4 of 5', 'step 5 of 5']);
    assert.equal(record.heartbeats.at(-1)?.infoMsg, 'step 5 of 5');

    const bad = toolkit.workItem({ payload: sample('batch-progress-and-failure', 'bad-payload.json').toString() });
    await toolkit.process(url, bad);
    const failed = await toolkit.waitForTask(bad.taskId);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failureReason, 'internal_error');
    assert.match(failed.failureMsg ?? '', /payload.steps must be a whole number/);
    assert.deepEqual(failed.violations, []);
  });

  it('training-library-model trains as a batch task, writes the model to libraryModelDirectory, and fails what it cannot use with the reason', async function () {
    const url = await processUrl('training-library-model.json');
    const models = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-models-'));
    try {
      const item = toolkit.workItem({ payload: sample('training-library-model', 'payload.json').toString(), libraryModelDirectory: models, libraryEngineModelId: 'model-1' });
      const answer = await toolkit.process(url, item, { data: 'ignored by training', mimeType: 'text/plain' });
      assert.equal(typeof (answer.body as { estimatedProcessingTimeInSeconds?: unknown }).estimatedProcessingTimeInSeconds, 'number', 'training answers as batch');
      const record = await toolkit.waitForTask(item.taskId);
      assert.equal(record.status, 'complete', record.failureMsg);
      assert.ok(record.heartbeats.some((h) => h.infoMsg === 'training on 5 words'));
      const model = JSON.parse(fs.readFileSync(path.join(models, 'model-1.json'), 'utf8')) as { words: string[] };
      assert.deepEqual(model.words, ['aiware', 'engine', 'flow', 'node-red', 'toolkit']);

      // Not a training task: this engine is a synchronous chunk engine then, and answers the failure.
      const chunk = await toolkit.process(url, toolkit.workItem(), { data: 'a chunk', mimeType: 'text/plain' });
      assert.equal(chunk.status, 500);
      assert.deepEqual(chunk.body, { error: 'this example engine only trains: send payload.mode "library-train"', failureReason: 'invalid_data' });

      const blocked = path.join(models, 'a-file');
      fs.writeFileSync(blocked, '');
      for (const [fields, reason, message] of [
        [{ payload: JSON.stringify({ mode: 'library-train', words: [] }) }, 'invalid_data', /payload.words must be a non-empty list/],
        [{ payload: JSON.stringify({ mode: 'library-train', words: ['x'] }), libraryModelDirectory: path.join(blocked, 'sub') }, 'file_write_error', /could not write the model/],
      ] as const) {
        const failing = toolkit.workItem(fields);
        await toolkit.process(url, failing, { data: 'a chunk', mimeType: 'text/plain' });
        const failed = await toolkit.waitForTask(failing.taskId);
        assert.deepEqual([failed.status, failed.failureReason], ['failed', reason]);
        assert.match(failed.failureMsg ?? '', message);
      }
    } finally {
      fs.rmSync(models, { recursive: true, force: true });
    }
  });

  describe('human-review', function () {
    let service: ReviewService;
    before(async function () {
      service = await ReviewService.start();
    });
    after(async function () {
      await service.stop();
    });

    /** Runs one chunk through the example; the test plays the reviewer with `answer`. */
    async function review(text: string, answer?: { url: 'callbackUrl' | 'failUrl'; body: unknown }) {
      const url = await processUrl('human-review.json');
      // No token: the local mode (the platform mode is the pause-for-callback suite's).
      const item = toolkit.workItem({ token: undefined, payload: JSON.stringify({ callbackServiceUrl: service.url }), startOffsetMS: '0', endOffsetMS: '4000' });
      const seen = service.requests.length;
      assert.equal((await toolkit.process(url, item, { data: text, mimeType: 'text/plain' })).status, 200);
      if (answer) {
        const request = await service.request(seen);
        assert.equal((await post(String(request[answer.url]), answer.body)).status, 200);
      }
      return toolkit.waitForTask(item.taskId);
    }

    it('sends sure words straight out, and waits for a reviewer who approves or corrects unsure ones', async function () {
      const sure = await review('all sure now');
      assert.equal(sure.status, 'complete');
      assert.equal(
        sure.heartbeats.some((h) => (h.infoMsg ?? '').includes('waiting for a callback')),
        false,
        'nothing waited',
      );

      const approved = await review('the qu?ck fox', { url: 'callbackUrl', body: { approved: true } });
      assert.equal(approved.status, 'complete');
      assert.ok(approved.heartbeats.some((h) => (h.infoMsg ?? '').includes('waiting for a callback')));
      const words = (approved.results[0].output as { series: { words: { word: string; confidence: number }[] }[] }).series.map((s) => s.words[0]);
      assert.deepEqual(words, [
        { word: 'the', confidence: 0.95 },
        { word: 'quck', confidence: 0.4 },
        { word: 'fox', confidence: 0.95 },
      ]);

      const corrected = await review('the qu?ck fox', { url: 'callbackUrl', body: { words: ['the', 'quick', 'fox'] } });
      assert.deepEqual(
        (corrected.results[0].output as { series: { words: { word: string }[] }[] }).series.map((s) => s.words[0].word),
        ['the', 'quick', 'fox'],
      );
      assert.deepEqual(corrected.violations, []);
    });

    it('fails the task with external_error when the reviewer reports a failure, and invalid data for a review it cannot read', async function () {
      const failed = await review('unsure?', { url: 'failUrl', body: { error: 'no reviewer speaks this language' } });
      assert.deepEqual([failed.status, failed.failureReason], ['failed', 'external_error']);
      assert.match(failed.failureMsg ?? '', /no reviewer speaks this language/);
      const unreadable = await review('unsure?', { url: 'callbackUrl', body: { maybe: true } });
      assert.equal(unreadable.status, 'failed');
      assert.match(unreadable.failureMsg ?? '', /neither \{"words"/);
    });

    it('runs in the platform mode as aiWARE runs it: paused, woken by the outside service, complete', async function () {
      const outside = await OutsideService.start({ delayMs: 50, answer: { words: ['the', 'quick', 'fox'] } });
      try {
        const url = await processUrl('human-review.json');
        const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: outside.url, engineId: 'engine-review' }) });
        assert.equal((await toolkit.process(url, item, { data: 'the qu?ck fox', mimeType: 'text/plain' })).status, 200);
        const record = await toolkit.waitForTask(item.taskId);
        assert.equal(record.status, 'complete', record.failureMsg);
        assert.deepEqual([record.paused, record.wakeUps.length], [1, 1]);
        assert.deepEqual(
          (record.results[0].output as { series: { words: { word: string }[] }[] }).series.map((s) => s.words[0].word),
          ['the', 'quick', 'fox'],
        );
      } finally {
        await outside.stop();
      }
    });
  });

  it('keys-running-word-count answers each sample input with the running word count of its job', async function () {
    const url = await processUrl('keys-running-word-count.json');
    const inputs = path.join(SAMPLES, 'keys-running-word-count');
    const job = { internalJobId: 'job-example-count' };
    let expected = 0;
    for (const file of textInputs(inputs)) {
      const text = fs.readFileSync(path.join(inputs, file), 'utf8');
      expected += text.split(/\s+/).filter(Boolean).length;
      const answer = await toolkit.process(url, toolkit.workItem(job), { data: text, mimeType: 'text/plain' });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const tags = (answer.body as { tags: { key: string; value: string }[] }).tags;
      assert.deepEqual(tags, [{ key: 'wordCount', value: String(expected) }]);
    }
    assert.equal(toolkit.keyValue('job', 'job-example-count', 'wordCount'), String(expected));
    const fresh = await toolkit.process(url, toolkit.workItem({ internalJobId: 'job-example-other' }), { data: 'two words', mimeType: 'text/plain' });
    assert.deepEqual((fresh.body as { tags: unknown }).tags, [{ key: 'wordCount', value: '2' }], 'another job counts on its own');
    // No key proxy (a plain Node-RED, the try-it button): the example's keys nodes use their local store.
    const noRedis = await toolkit.process(url, toolkit.workItem({ redisETUrl: undefined, internalJobId: 'job-example-local' }), { data: 'three more words', mimeType: 'text/plain' });
    assert.equal(noRedis.status, 200, JSON.stringify(noRedis.body));
    assert.deepEqual((noRedis.body as { tags: unknown }).tags, [{ key: 'wordCount', value: '3' }]);
  });

  it('library-train-then-run trains a vocabulary, then spots its words with the stored model; a served model is fetched once', async function () {
    const url = await processUrl('library-train-then-run.json');
    const library = { libraryId: 'lib-example', libraryEngineModelId: 'model-example' };
    const train = toolkit.workItem({ payload: JSON.stringify({ mode: 'library-train', vocabulary: ['Fox', 'dog'] }), ...library });
    assert.equal((await toolkit.process(url, train)).status, 200);
    const trained = await toolkit.waitForTask(train.taskId);
    assert.equal(trained.status, 'complete', trained.failureMsg);
    assert.ok(trained.heartbeats.some((h) => (h.infoMsg ?? '').includes('library engine model model-example stored')));

    const run = toolkit.workItem({ payload: JSON.stringify({ mode: 'library-run' }), ...library });
    const answer = await toolkit.process(url, run, { data: 'the quick brown fox jumps over the lazy dog', mimeType: 'text/plain' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(
      (answer.body as { series: { words: { word: string }[] }[] }).series.map((s) => s.words[0].word),
      ['fox', 'dog'],
    );
    assert.equal(toolkit.modelDownloads('lib-example', 'model-example'), 0, 'the trained model was on disk');

    // A model trained elsewhere: served by the platform, fetched by the first task, reused by the rest.
    const served = { libraryId: 'lib-example', libraryEngineModelId: 'model-served' };
    toolkit.serveModel(served.libraryId, served.libraryEngineModelId, { data: JSON.stringify({ vocabulary: ['engine'] }) });
    for (let i = 0; i < 2; i++) {
      const item = toolkit.workItem({ payload: JSON.stringify({ mode: 'library-run' }), ...served });
      const spotted = await toolkit.process(url, item, { data: 'a flow is an engine', mimeType: 'text/plain' });
      assert.equal(spotted.status, 200, JSON.stringify(spotted.body));
    }
    assert.equal(toolkit.modelDownloads(served.libraryId, served.libraryEngineModelId), 1);

    const untrained = toolkit.workItem({ payload: JSON.stringify({ mode: 'library-train', vocabulary: [] }), ...library });
    await toolkit.process(url, untrained);
    const failed = await toolkit.waitForTask(untrained.taskId);
    assert.deepEqual([failed.status, failed.failureReason], ['failed', 'invalid_data']);
  });
});
