// Every example flow in examples/ runs end to end against the toolkit emulator, as imported.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACK_DIR, onOneTab, type FlowConfig } from '@aiware-nodered/node-red-runner';
import { deploy } from './support/engine';
import { ReviewService, post } from './support/review';
import { OutsideService } from '@aiware-nodered/aiware-sim';

const EXAMPLES = path.join(PACK_DIR, 'examples');

function example(name: string): FlowConfig {
  return onOneTab(JSON.parse(fs.readFileSync(path.join(EXAMPLES, name), 'utf8')) as FlowConfig);
}

describe('examples', function () {
  it('lists only examples this suite runs', function () {
    const files = fs
      .readdirSync(EXAMPLES)
      .filter((f) => f.endsWith('.json'))
      .sort();
    assert.deepEqual(files, [
      'batch-progress-and-failure.json',
      'chunk-text-to-transcript.json',
      'human-review.json',
      'keys-running-word-count.json',
      'library-train-then-run.json',
      'stream-lines-from-cache.json',
    ]);
  });

  it('chunk-text-to-transcript answers each sample input with a transcript over its offsets', async function () {
    const { toolkit, processUrl } = await deploy(example('chunk-text-to-transcript.json'));
    const inputs = path.join(EXAMPLES, 'inputs');
    for (const file of fs.readdirSync(inputs)) {
      const text = fs.readFileSync(path.join(inputs, file), 'utf8');
      const item = toolkit.workItem({ startOffsetMS: '10000', endOffsetMS: '20000' });
      const answer = await toolkit.process(processUrl, item, { data: text, mimeType: 'text/plain' });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const series = (answer.body as { series: { startTimeMs: number; stopTimeMs: number; words: { word: string }[] }[] }).series;
      assert.deepEqual(
        series.map((s) => s.words[0].word),
        text.split(/\s+/).filter(Boolean),
      );
      assert.equal(series[0].startTimeMs, 10000);
      assert.equal(series.at(-1)!.stopTimeMs, 20000);
    }
    const blank = await toolkit.process(processUrl, toolkit.workItem(), { data: '   ', mimeType: 'text/plain' });
    assert.equal(blank.status, 204, 'a chunk with no words is ignored');
    const image = await toolkit.process(processUrl, toolkit.workItem(), { data: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]), mimeType: 'image/png' });
    assert.equal(image.status, 500);
    assert.deepEqual(image.body, { error: 'this engine reads text chunks, not image/png', failureReason: 'invalid_data' }, 'failed as invalid_data, not read as words');
  });

  it('stream-lines-from-cache sends a result per line of cacheURI and completes', async function () {
    const { toolkit, processUrl } = await deploy(example('stream-lines-from-cache.json'));
    const item = toolkit.workItem();
    toolkit.setCache(item.taskId, { data: 'first line here\nsecond line\n', mimeType: 'text/plain' });
    assert.equal((await toolkit.process(processUrl, item)).status, 200);
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete');
    assert.deepEqual(
      record.results.map((r) => r.index),
      [1, 2],
    );
    assert.deepEqual(
      record.results.map((r) => [r.startOffsetMs, r.endOffsetMs]),
      [
        [0, 1000],
        [1000, 2000],
      ],
    );
    assert.deepEqual(record.violations, []);

    const empty = toolkit.workItem();
    toolkit.setCache(empty.taskId, { data: '\n', mimeType: 'text/plain' });
    await toolkit.process(processUrl, empty);
    const emptyRecord = await toolkit.waitForTask(empty.taskId);
    assert.equal(emptyRecord.status, 'complete');
    assert.equal(emptyRecord.results.length, 0);
    // No cache at all (the emulator answers 404), and a cache that is not text: failed with the reason, never a transcript.
    const missing = toolkit.workItem();
    await toolkit.process(processUrl, missing);
    const missingRecord = await toolkit.waitForTask(missing.taskId);
    assert.deepEqual([missingRecord.status, missingRecord.failureReason, missingRecord.results.length], ['failed', 'url_not_found', 0]);
    assert.match(missingRecord.failureMsg ?? '', /cacheURI answered 404/);
    const binary = toolkit.workItem();
    toolkit.setCache(binary.taskId, { data: Buffer.from([0, 1, 2, 255]), mimeType: 'image/png' });
    await toolkit.process(processUrl, binary);
    const binaryRecord = await toolkit.waitForTask(binary.taskId);
    assert.deepEqual([binaryRecord.status, binaryRecord.failureReason, binaryRecord.results.length], ['failed', 'invalid_data', 0]);
  });

  it('batch-progress-and-failure reports each step, completes, and fails a bad payload at once', async function () {
    const { toolkit, processUrl } = await deploy(example('batch-progress-and-failure.json'));
    const item = toolkit.workItem({ payload: JSON.stringify({ steps: 3 }) });
    await toolkit.process(processUrl, item);
    const record = await toolkit.waitForTask(item.taskId);
    assert.equal(record.status, 'complete');
    // The automatic running heartbeats repeat the latest infoMsg: look at the changes only.
    const steps = record.heartbeats.map((h) => h.infoMsg).filter((info, i, all) => info?.startsWith('step') && info !== all[i - 1]);
    assert.deepEqual(steps, ['step 1 of 3', 'step 2 of 3', 'step 3 of 3']);
    assert.equal(record.heartbeats.at(-1)?.infoMsg, 'step 3 of 3');

    const bad = toolkit.workItem({ payload: JSON.stringify({ steps: 'many' }) });
    await toolkit.process(processUrl, bad);
    const failed = await toolkit.waitForTask(bad.taskId);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.failureReason, 'internal_error');
    assert.match(failed.failureMsg ?? '', /payload.steps must be a whole number/);
    assert.deepEqual(failed.violations, []);
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
      const { toolkit, processUrl } = await deploy(example('human-review.json'));
      // No token: the local mode (the platform mode is the pause-for-callback suite's).
      const item = toolkit.workItem({ token: undefined, payload: JSON.stringify({ callbackServiceUrl: service.url }), startOffsetMS: '0', endOffsetMS: '4000' });
      const seen = service.requests.length;
      assert.equal((await toolkit.process(processUrl, item, { data: text, mimeType: 'text/plain' })).status, 200);
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
        const { toolkit, processUrl } = await deploy(example('human-review.json'));
        const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: outside.url, engineId: 'engine-review' }) });
        assert.equal((await toolkit.process(processUrl, item, { data: 'the qu?ck fox', mimeType: 'text/plain' })).status, 200);
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
    const { toolkit, processUrl } = await deploy(example('keys-running-word-count.json'));
    const inputs = path.join(EXAMPLES, 'inputs');
    const job = { internalJobId: 'job-example-count' };
    let expected = 0;
    for (const file of fs.readdirSync(inputs).sort()) {
      const text = fs.readFileSync(path.join(inputs, file), 'utf8');
      expected += text.split(/\s+/).filter(Boolean).length;
      const answer = await toolkit.process(processUrl, toolkit.workItem(job), { data: text, mimeType: 'text/plain' });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const tags = (answer.body as { tags: { key: string; value: string }[] }).tags;
      assert.deepEqual(tags, [{ key: 'wordCount', value: String(expected) }]);
    }
    assert.equal(toolkit.keyValue('job', 'job-example-count', 'wordCount'), String(expected));
    const fresh = await toolkit.process(processUrl, toolkit.workItem({ internalJobId: 'job-example-other' }), { data: 'two words', mimeType: 'text/plain' });
    assert.deepEqual((fresh.body as { tags: unknown }).tags, [{ key: 'wordCount', value: '2' }], 'another job counts on its own');
    const noRedis = await toolkit.process(processUrl, toolkit.workItem({ redisETUrl: undefined }), { data: 'words', mimeType: 'text/plain' });
    assert.equal((noRedis.body as { failureReason: string }).failureReason, 'system_dependency_missing');
  });

  it('library-train-then-run trains a vocabulary, then spots its words with the stored model; a served model is fetched once', async function () {
    const { toolkit, processUrl } = await deploy(example('library-train-then-run.json'));
    const library = { libraryId: 'lib-example', libraryEngineModelId: 'model-example' };
    const train = toolkit.workItem({ payload: JSON.stringify({ mode: 'library-train', vocabulary: ['Fox', 'dog'] }), ...library });
    assert.equal((await toolkit.process(processUrl, train)).status, 200);
    const trained = await toolkit.waitForTask(train.taskId);
    assert.equal(trained.status, 'complete', trained.failureMsg);
    assert.ok(trained.heartbeats.some((h) => (h.infoMsg ?? '').includes('library engine model model-example stored')));

    const run = toolkit.workItem({ payload: JSON.stringify({ mode: 'library-run' }), ...library });
    const answer = await toolkit.process(processUrl, run, { data: 'the quick brown fox jumps over the lazy dog', mimeType: 'text/plain' });
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
      const spotted = await toolkit.process(processUrl, item, { data: 'a flow is an engine', mimeType: 'text/plain' });
      assert.equal(spotted.status, 200, JSON.stringify(spotted.body));
    }
    assert.equal(toolkit.modelDownloads(served.libraryId, served.libraryEngineModelId), 1);

    const untrained = toolkit.workItem({ payload: JSON.stringify({ mode: 'library-train', vocabulary: [] }), ...library });
    await toolkit.process(processUrl, untrained);
    const failed = await toolkit.waitForTask(untrained.taskId);
    assert.deepEqual([failed.status, failed.failureReason], ['failed', 'invalid_data']);
  });
});
