// The compatibility matrix: the palette pack as users get it (its tarball installed --omit=dev into
// a fresh user directory) in a stock `node-red` of each supported version, started by its own
// red.js with its default settings (editor and admin API at `/`), on each supported Node. The same
// engine stories run in every cell over real HTTP, through Node-RED's express app, driven by the
// toolkit emulator as Engine Toolkit drives an engine. Node and Node-RED come from the npm registry
// and are cached (./cache). The run ends by writing test/compat/MATRIX.md.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ToolkitEmulator, encodeMultipart, type TaskRecord } from '@aiware-nodered/aiware-sim';
import { packPackage } from '../../scripts/pack';
import { ReviewService } from '../support/review';
import { REPO_DIR, cached, nodeBinary, nodeRedMain, type CachedPackage } from './cache';
import { BATCH_WORK_MS, PATHS, compatFlows } from './flows';
import { writeMatrix, type CellReport } from './report';
import { StockNodeRed, installPack } from './stock-node-red';

/** The Node-RED versions users have, each on the Nodes it supports (Node-RED 5 needs Node 22.9 or later). */
const CELLS = [
  { nodeRed: '4.1', node: '20' },
  { nodeRed: '4.1', node: '22' },
  { nodeRed: '5', node: '22' },
  { nodeRed: '5', node: '24' },
].map((cell) => ({ ...cell, title: `Node-RED ${cell.nodeRed} on Node ${cell.node}`, key: `node-red-${cell.nodeRed}-node-${cell.node}` }));

/** The longest any answer from Node-RED may take: a request it never answers fails the story, it does not hang it. */
const ANSWER_MS = 10_000;
/** The longest a task may take to end once it is answered. */
const TASK_MS = 15_000;
/** Node-RED's log of each cell, kept after the run. */
const LOG_DIR = path.join(REPO_DIR, '.tmp', 'compat');

interface Story {
  title: string;
  run(engine: Engine): Promise<void>;
}

/** What a story drives: the cell's Node-RED, the toolkit, the review service, and names unique to the cell. */
interface Engine {
  url: string;
  toolkit: ToolkitEmulator;
  service: ReviewService;
  unique: (name: string) => string;
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
  body: unknown;
}

/** POSTs `body` as `contentType`; fails after ANSWER_MS without an answer. */
async function send(url: string, body: string | Buffer, contentType: string): Promise<Answer> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'Content-Type': contentType }, body: typeof body === 'string' ? body : new Uint8Array(body), signal: AbortSignal.timeout(ANSWER_MS) });
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') throw new Error(`POST ${url} (Content-Type ${contentType}): no answer within ${ANSWER_MS / 1000} s`);
    throw err;
  }
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  return { status: response.status, contentType: type, text, body: type.startsWith('application/json') ? (JSON.parse(text) as unknown) : text };
}

/** The emulator's /process answer, or a failure after ANSWER_MS. */
async function answered<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ANSWER_MS / 1000} s`)), ANSWER_MS)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The pack's own error answer: the status, JSON (not Node-RED's HTML error page), and an error that says what is wrong. */
function assertJsonError(answer: Answer, status: number, says: RegExp): void {
  assert.match(answer.contentType, /^application\/json/, `a JSON error, not ${answer.contentType}: ${answer.text.slice(0, 200)}`);
  assert.equal(answer.status, status, answer.text);
  assert.match(String((answer.body as { error?: unknown }).error), says);
}

function transcriptWords(output: unknown): string[] {
  const series = (output as { series: { words: { word: string }[] }[] }).series;
  return series.flatMap((s) => s.words.map((w) => w.word));
}

function assertNoViolations(record: TaskRecord): void {
  assert.deepEqual(record.violations, [], `protocol violations: ${record.violations.join('; ')}`);
}

/** A chunk of text to the synchronous engine, as Engine Toolkit posts it: its answer must be its words. */
async function assertServes({ url, toolkit }: Engine, text: string): Promise<void> {
  const answer = await answered(toolkit.process(url + PATHS.sync, toolkit.workItem(), { data: text, mimeType: 'text/plain' }), 'a multipart work item');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(transcriptWords(answer.body), [text, 'start=0']);
}

/** Sends a chunk to the review engine and gives the callback URL the flow handed to the review service. */
async function pauseForReview({ url, toolkit, service }: Engine, text: string): Promise<{ taskId: string; callbackUrl: string }> {
  const seen = service.requests.length;
  const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url }), maxTTL: '120' });
  const answer = await answered(toolkit.process(url + PATHS.review, item, { data: text, mimeType: 'text/plain' }), 'the review engine');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const review = await service.request(seen, ANSWER_MS);
  assert.equal(review.chunkContext, item.fields.chunkContext, "the review request is this task's");
  const callbackUrl = String(review.callbackUrl);
  assert.ok(callbackUrl.startsWith(`${url}/aiware/callback/`), `the callback URL is served by this Node-RED: ${callbackUrl}`);
  await toolkit.waitFor((rec) => rec.heartbeats.some((hb) => (hb.infoMsg ?? '').includes('waiting for a callback')), item.taskId, { timeoutMs: TASK_MS });
  return { taskId: item.taskId, callbackUrl };
}

/** Answers a paused task's callback URL with `body` and gives the words of the task's result. */
async function resumeWith(engine: Engine, text: string, body: string | Buffer, contentType: string): Promise<string[]> {
  const { taskId, callbackUrl } = await pauseForReview(engine, text);
  const answer = await send(callbackUrl, body, contentType);
  assert.equal(answer.status, 200, answer.text);
  assert.equal((answer.body as { state?: string }).state, 'resumed');
  const record = await engine.toolkit.waitForTask(taskId, { timeoutMs: TASK_MS });
  assert.equal(record.status, 'complete', JSON.stringify(record));
  assertNoViolations(record);
  return transcriptWords(record.results[0].output);
}

async function modelChunk({ url, toolkit }: Engine, fields: Record<string, string>): Promise<string[]> {
  const answer = await answered(toolkit.process(url + PATHS.model, toolkit.workItem(fields), { data: 'x', mimeType: 'text/plain' }), 'the library-model engine');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return transcriptWords(answer.body);
}

const STORIES: Story[] = [
  {
    title: 'answers a chunk synchronously with its VTN output (multipart, as Engine Toolkit posts it)',
    async run({ url, toolkit }) {
      const item = toolkit.workItem({ startOffsetMS: '2000' });
      const answer = await answered(toolkit.process(url + PATHS.sync, item, { data: 'hello', mimeType: 'text/plain' }), 'a multipart work item');
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(transcriptWords(answer.body), ['hello', 'start=2000']);
      assert.equal(toolkit.task(item.taskId).status, 'answered');
      assertNoViolations(toolkit.task(item.taskId));
    },
  },
  {
    title: 'answers a chunk asynchronously and posts its result with chunkContext, offsets and index 1',
    async run({ url, toolkit }) {
      const item = toolkit.workItem({ startOffsetMS: '5000', endOffsetMS: '7500', maxTTL: '30' });
      const answer = await answered(toolkit.process(url + PATHS.async, item, { data: 'async words', mimeType: 'text/plain' }), 'an asynchronous chunk');
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { estimatedProcessingTimeInSeconds: 30 });
      const record = await toolkit.waitForTask(item.taskId, { timeoutMs: TASK_MS });
      assert.equal(record.status, 'complete', JSON.stringify(record));
      assert.equal(record.results.length, 1);
      const [result] = record.results;
      assert.deepEqual([result.index, result.chunkContext, result.startOffsetMs, result.endOffsetMs], [1, item.fields.chunkContext, 5000, 7500]);
      assert.deepEqual(transcriptWords(result.output), ['async words']);
      assert.equal(record.heartbeats.at(-1)?.status, 'complete');
      assertNoViolations(record);
    },
  },
  {
    title: 'runs a stream engine that reads cacheURI and sends several results',
    async run({ url, toolkit }) {
      const item = toolkit.workItem();
      toolkit.setCache(item.taskId, { data: 'one\ntwo\nthree\n', mimeType: 'text/plain' });
      const answer = await answered(toolkit.process(url + PATHS.stream, item), 'a stream task');
      assert.equal(answer.status, 200);
      const record = await toolkit.waitForTask(item.taskId, { timeoutMs: TASK_MS });
      assert.equal(record.status, 'complete', JSON.stringify(record));
      assert.deepEqual(
        record.results.map((r) => [r.index, transcriptWords(r.output)[0], r.startOffsetMs]),
        [
          [1, 'one', 0],
          [2, 'two', 1000],
          [3, 'three', 2000],
        ],
      );
      assert.equal(record.heartbeats.at(-1)?.messagesWritten, 3);
      assertNoViolations(record);
    },
  },
  {
    title: 'runs a batch engine that heartbeats: its own running heartbeats while it works, then complete',
    async run({ url, toolkit }) {
      const item = toolkit.workItem();
      const answer = await answered(toolkit.process(url + PATHS.batch, item), 'a batch task');
      assert.equal(answer.status, 200);
      const record = await toolkit.waitForTask(item.taskId, { timeoutMs: TASK_MS });
      assert.equal(record.status, 'complete', JSON.stringify(record));
      const running = record.heartbeats.filter((h) => h.status === 'running');
      assert.ok(
        running.some((h) => h.infoMsg === 'halfway'),
        "the flow's own running heartbeat",
      );
      assert.ok(running.length >= 2, `the pack's running heartbeats over ${BATCH_WORK_MS} ms of work besides the flow's: ${running.length} in all`);
      assert.equal(record.heartbeats.at(-1)?.status, 'complete');
      assertNoViolations(record);
    },
  },
  {
    title: 'takes a work item posted as JSON',
    async run({ url, toolkit }) {
      const { fields } = toolkit.workItem();
      const answer = await send(url + PATHS.sync, JSON.stringify({ ...fields, chunk: 'from json', chunkMimeType: 'text/plain', startOffsetMS: 10 }), 'application/json');
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(transcriptWords(answer.body), ['from json', 'start=10']);
    },
  },
  {
    title: 'takes a work item posted as a form',
    async run({ url, toolkit }) {
      const { fields } = toolkit.workItem();
      const form = new URLSearchParams({ ...fields, chunk: 'from a form', chunkMimeType: 'text/plain', startOffsetMS: '5' });
      const answer = await send(url + PATHS.sync, form.toString(), 'application/x-www-form-urlencoded');
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(transcriptWords(answer.body), ['from a form', 'start=5']);
    },
  },
  {
    title: "answers a truncated JSON body with the pack's JSON 400, and serves the next work item",
    async run(engine) {
      const answer = await send(engine.url + PATHS.sync, '{"chunk": "cut sh', 'application/json');
      assertJsonError(answer, 400, /application\/json body is not JSON/);
      await assertServes(engine, 'still here');
    },
  },
  {
    title: "answers a malformed multipart body with the pack's JSON 400, and serves the next work item",
    async run(engine) {
      const { body, contentType } = encodeMultipart(engine.toolkit.workItem().fields, { data: Buffer.from('x'), mimeType: 'text/plain' });
      const boundary = /boundary=(\S+)/.exec(contentType)![1];
      // A part whose header line has no colon, before an otherwise good body.
      const bad = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition form-data; name="a"\r\n\r\nx\r\n`), body]);
      assertJsonError(await send(engine.url + PATHS.sync, bad, contentType), 400, /multipart body is malformed/);
      await assertServes(engine, 'still here');
    },
  },
  {
    title: 'resumes a paused task when its callback URL, served by Node-RED, gets a JSON answer',
    async run(engine) {
      const words = await resumeWith(
        engine,
        'teh cat',
        JSON.stringify({
          words: [
            { word: 'the', confidence: 1 },
            { word: 'cat', confidence: 1 },
          ],
        }),
        'application/json',
      );
      assert.deepEqual(words, ['the', 'cat']);
    },
  },
  {
    title: 'resumes a paused task when its callback URL gets a text answer',
    async run(engine) {
      assert.deepEqual(await resumeWith(engine, 'teh dog', 'the dog', 'text/plain'), ['the', 'dog']);
    },
  },
  {
    title: 'resumes a paused task when its callback URL gets a binary answer',
    async run(engine) {
      assert.deepEqual(await resumeWith(engine, 'teh bird', Buffer.from([0, 1, 2, 255]), 'application/octet-stream'), ['bytes:000102ff']);
    },
  },
  {
    title: "keeps a running word count across a job's chunks in a key of Engine Toolkit's key proxy",
    async run({ url, toolkit, unique }) {
      const count = async (text: string, internalJobId: string): Promise<string[]> => {
        const answer = await answered(toolkit.process(url + PATHS.keys, toolkit.workItem({ internalJobId }), { data: text, mimeType: 'text/plain' }), 'the keys engine');
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        return transcriptWords(answer.body);
      };
      const job = unique('job');
      assert.deepEqual([await count('the quick brown fox', job), await count('jumps over', job)], [['4'], ['6']]);
      assert.deepEqual(await count('a new job', unique('other-job')), ['3'], "another job does not see this job's count");
      assert.equal(toolkit.keyValue('job', job, 'wordCount'), '6');
    },
  },
  {
    title: 'fetches a library model from the model server once and reuses it',
    async run(engine) {
      const ids = { libraryId: engine.unique('library'), libraryEngineModelId: engine.unique('model') };
      engine.toolkit.serveModel(ids.libraryId, ids.libraryEngineModelId, { data: Buffer.alloc(64 * 1024, 7) });
      assert.deepEqual(await modelChunk(engine, ids), ['size=65536', 'fetched=true', 'source=download']);
      assert.deepEqual(await modelChunk(engine, ids), ['size=65536', 'fetched=false', 'source=download']);
      assert.equal(engine.toolkit.modelDownloads(ids.libraryId, ids.libraryEngineModelId), 1);
    },
  },
  {
    title: 'stores a model trained by a library-train task, and a library-run task uses it without a download',
    async run(engine) {
      const { toolkit, url } = engine;
      const ids = { libraryId: engine.unique('library'), libraryEngineModelId: engine.unique('model') };
      const train = toolkit.workItem({ libraryId: undefined, libraryEngineModelId: undefined, payload: JSON.stringify({ mode: 'library-train', ...ids, vocabulary: ['fox'] }) });
      const answer = await answered(toolkit.process(url + PATHS.model, train), 'a library-train task');
      assert.equal(answer.status, 200);
      const trained = await toolkit.waitForTask(train.taskId, { timeoutMs: TASK_MS });
      assert.equal(trained.status, 'complete', JSON.stringify(trained));
      assert.ok(trained.heartbeats.some((h) => h.infoMsg?.includes(`library engine model ${ids.libraryEngineModelId} stored`)));
      assertNoViolations(trained);
      const file = path.join(toolkit.libraryModelDirectory, ids.libraryId, ids.libraryEngineModelId, 'model');
      assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { vocabulary: ['fox'] });
      const words = await modelChunk(engine, { ...ids, payload: JSON.stringify({ mode: 'library-run' }) });
      assert.deepEqual(words.slice(1), ['fetched=false', 'source=training']);
      assert.equal(toolkit.modelDownloads(ids.libraryId, ids.libraryEngineModelId), 0);
    },
  },
];

/** A cell's Node and Node-RED, from the cache or the registry (both at once). */
function cellPackages(cell: (typeof CELLS)[number]): Promise<[CachedPackage, CachedPackage]> {
  return Promise.all([cached('node', cell.node), cached('node-red', cell.nodeRed)]);
}

describe('the palette pack in a stock Node-RED', function () {
  const reports: CellReport[] = CELLS.map((cell) => ({ title: cell.title, ranges: { node: cell.node, nodeRed: cell.nodeRed }, stories: new Map() }));
  const installs: CachedPackage[] = [];
  let toolkit: ToolkitEmulator;
  let service: ReviewService;
  let work: string;
  let tarball: string;
  let started: number;

  before(async function () {
    this.timeout(120_000);
    started = Date.now();
    fs.rmSync(LOG_DIR, { recursive: true, force: true });
    fs.mkdirSync(LOG_DIR, { recursive: true });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-compat-'));
    // Packed once from the build (npm run build), as a palette user downloads it.
    tarball = packPackage('pack', work).tarball;
    toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
    service = await ReviewService.start();
  });

  after(async function () {
    this.timeout(30_000);
    const fresh = installs.filter((p) => p.installed).map((p) => `${p.name}@${p.range} ${(p.ms / 1000).toFixed(0)} s`);
    const cacheNote = fresh.length === 0 ? 'Node and Node-RED from the cache' : `installed from the registry: ${fresh.join(', ')}`;
    writeMatrix(
      reports,
      STORIES.map((s) => s.title),
      Date.now() - started,
      cacheNote,
    );
    await service?.stop();
    await toolkit?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  CELLS.forEach((cell, index) => {
    describe(cell.title, function () {
      const report = reports[index];
      let red: StockNodeRed | undefined;

      before(async function () {
        // A cold cache downloads Node and Node-RED first.
        this.timeout(15 * 60_000);
        try {
          // The next cell's installs (on a cold cache) go on while this one runs; a failed one is reported by that cell.
          if (CELLS[index + 1]) void cellPackages(CELLS[index + 1]).catch(() => undefined);
          const [node, nodeRed] = await cellPackages(cell);
          for (const p of [node, nodeRed]) if (!installs.includes(p)) installs.push(p);
          const userDir = path.join(work, cell.key);
          await installPack(userDir, tarball, nodeBinary(node));
          const spawned = Date.now();
          const start = await StockNodeRed.start({ node: nodeBinary(node), redJs: nodeRedMain(nodeRed), userDir, flows: compatFlows(), logFile: path.join(LOG_DIR, `${cell.key}.log`) });
          red = start.red;
          report.startMs = Date.now() - spawned;
          report.reported = start.reported;
          assert.ok(start.reported.node.startsWith(`${cell.node}.`), `asked for Node ${cell.node}, it runs on ${start.reported.node}`);
          assert.ok(start.reported.nodeRed.startsWith(`${cell.nodeRed}.`), `asked for Node-RED ${cell.nodeRed}, it is ${start.reported.nodeRed}`);
        } catch (err) {
          report.error = `did not start: ${(err as Error).message}`;
          throw err;
        }
      });

      afterEach(async function () {
        const test = this.currentTest!;
        report.stories.set(test.title, test.state === 'passed' ? 'passed' : test.state === 'failed' ? 'failed' : 'not run');
        if (test.state !== 'failed' || !red) return;
        // A Node-RED that no longer answers at all would make every later story wait out its limit: they are not run.
        const ready = await fetch(`${red.url}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
          (res) => res.status,
          (err: Error) => err.message,
        );
        if (ready === 200) return;
        report.error = `after "${test.title}" failed, /readyz answered ${ready}: the cell's later stories were not run`;
        await red.stop();
        red = undefined;
      });

      after(async function () {
        this.timeout(30_000);
        await red?.stop();
      });

      let names = 0;
      for (const story of STORIES) {
        it(story.title, async function () {
          if (!red) this.skip();
          await story.run({ url: red.url, toolkit, service, unique: (name) => `${name}-${cell.key}-${++names}` });
        });
      }
    });
  });
});
