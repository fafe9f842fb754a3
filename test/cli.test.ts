// `aiware-sim run` as a user runs it: the compiled CLI in a child process, against real engines
// on loopback (the runner on an example flow, the suite's Node-RED, small node:http engines).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import busboy from 'busboy';
import { explain, sim } from './support/sim-cli';
import { PACK_DIR } from '@aiware-nodered/node-red-runner';
import { deploy, fn, processIn, resultOut } from './support/engine';

const EXAMPLES = path.join(PACK_DIR, 'examples');
const SAMPLES = path.join(PACK_DIR, 'samples', 'chunk-text-to-transcript');
const KEYWORDS = path.join(PACK_DIR, 'test', 'fixtures', 'keyword-spotting', 'engine.json');

interface Summary {
  exitCode: number;
  stopped?: string;
  totals: { planned: number; tasks: number; ok: number; failed: number; failedByReason: Record<string, number>; violations: number; flowErrors: number };
  tasks: {
    task: number;
    input: string;
    status: string;
    failureReason?: string;
    failureMsg?: string;
    results: number;
    violations: string[];
    flowErrors: string[];
    file: string;
    paused?: number;
    wakeUps?: number;
  }[];
}

interface TaskFile {
  status: string;
  failureReason?: string;
  workItem: Record<string, string>;
  process: { attempt: number; status?: number; body?: unknown; error?: string }[];
  heartbeats: { status: string }[];
  results: unknown[];
  violations: string[];
}

let scratch: string;
let runs = 0;
function outDir(): string {
  return path.join(scratch, `out-${++runs}`);
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

function folderOf(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(scratch, 'inputs-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

/** What a small engine saw of one /process post. */
interface Seen {
  fields: Record<string, string>;
  chunk?: string;
  chunkMimeType?: string;
  at: number;
}

type Behaviour = (seen: Seen, res: http.ServerResponse) => void | Promise<void>;

/** A node:http engine: /readyz answers `ready`, /process parses ET's multipart and hands over. */
async function fakeEngine(behave: Behaviour, ready: { status: number; body?: unknown } = { status: 200 }) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/readyz') {
      req.resume();
      res.writeHead(ready.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(ready.body ?? {}));
      return;
    }
    const fields: Record<string, string> = {};
    let chunk: string | undefined;
    let chunkMimeType: string | undefined;
    const parser = busboy({ headers: req.headers });
    parser.on('field', (name, value) => (fields[name] = value));
    parser.on('file', (_name, stream, info) => {
      chunkMimeType = info.mimeType;
      const parts: Buffer[] = [];
      stream.on('data', (data: Buffer) => parts.push(data));
      stream.on('end', () => (chunk = Buffer.concat(parts).toString('utf8')));
    });
    parser.on('close', () => {
      const one = { fields, chunk, chunkMimeType, at: Date.now() };
      seen.push(one);
      void behave(one, res);
    });
    req.pipe(parser);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    processUrl: `${url}/process`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

function postJson(url: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** POSTs JSON and reads the JSON answer (the engine's GraphQL calls and its call to the service). */
function postForJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (data: string) => (text += data));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : (JSON.parse(text) as unknown) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (data: string) => (text += data));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}

const transcript = (text: string) => ({
  validationContracts: ['transcript'],
  series: text
    .split(/\s+/)
    .filter(Boolean)
    .map((word, i) => ({ startTimeMs: i * 100, stopTimeMs: (i + 1) * 100, words: [{ word, confidence: 1 }] })),
});

describe('aiware-sim run', function () {
  this.timeout(30_000);
  this.slow(5000);

  before(function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-cli-test-'));
  });

  after(function () {
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('runs the chunk example on a folder of text files through the runner, writes every result and exits 0', async function () {
    const inputs = folderOf({ 'a.txt': 'hello engine world', 'b.txt': 'second chunk here', '.DS_Store': 'not an input', 'aiware-test.yaml': 'cases: [] # aiware-sim test, not an input' });
    fs.mkdirSync(path.join(inputs, 'nested'));
    const out = outDir();
    const run = await sim(['run', '--runtime', path.join(EXAMPLES, 'chunk-text-to-transcript.json'), inputs, '--out', out], {});
    assert.equal(run.code, 0, explain(run));

    const summary = readJson<Summary>(path.join(out, 'summary.json'));
    assert.deepEqual(summary.totals, { planned: 2, tasks: 2, ok: 2, failed: 0, failedByReason: {}, violations: 0, flowErrors: 0 });
    assert.deepEqual(
      summary.tasks.map((t) => [path.basename(t.input), t.status, t.results]),
      [
        ['a.txt', 'answered', 1],
        ['b.txt', 'answered', 1],
      ],
    );

    const second = readJson<TaskFile>(path.join(out, summary.tasks[1].file));
    const words = (second.process[0].body as ReturnType<typeof transcript>).series.map((s) => s.words[0].word);
    assert.deepEqual(words, ['second', 'chunk', 'here']);
    assert.equal(second.workItem.startOffsetMS, '5000');
    assert.equal(second.workItem.endOffsetMS, '10000');
    assert.equal(second.workItem.chunkMimeType, 'text/plain');
    assert.equal(second.workItem.token, '[redacted]');
    assert.equal(second.workItem.controllerToken, '[redacted]');

    assert.match(run.stdout, /hello engine world/, 'the results are shown');
    assert.match(run.stdout, /2 tasks, 2 ok, 0 failed/);
    // The runner's log is kept; its working folder (a temp folder) is gone.
    const log = fs
      .readFileSync(path.join(out, 'runner.log'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const workDir = log.map((entry) => entry.workDir).find((dir): dir is string => typeof dir === 'string');
    assert.ok(workDir, 'the runner logs its working folder');
    assert.equal(fs.existsSync(workDir), false, 'the runner working folder is removed');
  });

  it('fails a task whose flow throws: /process answered 500, tried 4 times, exit 1 with internal_error', async function () {
    const { processUrl } = await deploy([processIn({}, ['boom']), fn('boom', "throw new Error('the model file is missing')", [['out']]), resultOut('out')]);
    const out = outDir();
    const run = await sim(['run', '--engine-url', processUrl, path.join(SAMPLES, 'fox.txt'), '--out', out]);
    assert.equal(run.code, 1, explain(run));
    const summary = readJson<Summary>(path.join(out, 'summary.json'));
    assert.deepEqual(summary.totals.failedByReason, { internal_error: 1 });
    assert.equal(summary.tasks[0].status, 'failed');
    assert.match(summary.tasks[0].failureMsg ?? '', /500.*the model file is missing/);
    const task = readJson<TaskFile>(path.join(out, summary.tasks[0].file));
    assert.deepEqual(
      task.process.map((p) => p.status),
      [500, 500, 500, 500],
      'ET tries a failed /process three more times',
    );
    assert.match(run.stdout, /failures\n {2}1 .*fox\.txt: internal_error: .*the model file is missing/);
  });

  it('ends each task of a misbehaving engine with its reason: a failed heartbeat, silence, a hang, a broken answer; exit 3 for the protocol errors', async function () {
    const engine = await fakeEngine(async (seen, res) => {
      switch (seen.chunk) {
        case 'ok':
          return json(res, 200, transcript('all good'));
        case 'fails':
          json(res, 200, { estimatedProcessingTimeInSeconds: 5 });
          await postJson(seen.fields.heartbeatWebhook, { status: 'failed', failureReason: 'external_error', failureMsg: 'the upstream service said no' });
          return;
        case 'silent':
          return json(res, 200, { estimatedProcessingTimeInSeconds: 5 });
        case 'hangs':
          return; // never answers
        default:
          res.writeHead(200, { 'Content-Type': 'text/plain' }).end('not a VTN object');
      }
    });
    try {
      const inputs = folderOf({ '1-ok.txt': 'ok', '2-fails.txt': 'fails', '3-silent.txt': 'silent', '4-hangs.txt': 'hangs', '5-broken.txt': 'broken' });
      const out = outDir();
      const run = await sim(['run', '--engine-url', engine.processUrl, inputs, '--out', out, '--concurrency', '5', '--heartbeat-timeout', '1', '--max-ttl', '1']);
      assert.equal(run.code, 3, explain(run));
      const summary = readJson<Summary>(path.join(out, 'summary.json'));
      assert.deepEqual(
        summary.tasks.map((t) => [path.basename(t.input), t.status, t.failureReason ?? null]),
        [
          ['1-ok.txt', 'answered', null],
          ['2-fails.txt', 'failed', 'external_error'],
          ['3-silent.txt', 'failed', 'heartbeat_timeout'],
          ['4-hangs.txt', 'failed', 'heartbeat_timeout'],
          ['5-broken.txt', 'answered', null],
        ],
      );
      assert.equal(summary.tasks[1].failureMsg, 'the upstream service said no');
      assert.match(summary.tasks[3].failureMsg ?? '', /maxTTL \(1 s\)/);
      assert.match(summary.tasks[4].violations.join('\n'), /not a VTN-standard JSON object/);
      assert.deepEqual(summary.totals, { planned: 5, tasks: 5, ok: 1, failed: 4, failedByReason: { external_error: 1, heartbeat_timeout: 2, protocol_violation: 1 }, violations: 1, flowErrors: 0 });
      const times = engine.seen.map((s) => s.at);
      assert.ok(Math.max(...times) - Math.min(...times) < 500, 'five tasks in flight at once');
      assert.match(run.stdout, /external_error 1, heartbeat_timeout 2, protocol_violation 1/);
    } finally {
      await engine.close();
    }
  });

  it("says what went wrong with the flow: a result after the complete heartbeat is a flow error, the runner's lines attached to the task, exit 3", async function () {
    const runtime = JSON.parse(fs.readFileSync(KEYWORDS, 'utf8')) as { flows: { id: string; wires?: string[][] }[] };
    // The author's mistake: the function's wire to the complete heartbeat drawn before the one to aiware-result-out.
    runtime.flows.find((n) => n.id === 'ks-spot')!.wires = [['ks-done', 'ks-send'], ['ks-fail']];
    const file = path.join(scratch, 'wire-order.json');
    fs.writeFileSync(file, JSON.stringify(runtime));
    const out = outDir();
    const run = await sim(['run', '--runtime', file, path.join(SAMPLES, 'fox.txt'), '--out', out]);
    assert.equal(run.code, 3, explain(run));
    const summary = readJson<Summary>(path.join(out, 'summary.json'));
    assert.deepEqual(
      summary.tasks.map((t) => [t.status, t.results, t.flowErrors.length]),
      [['complete', 0, 1]],
    );
    assert.deepEqual(summary.totals.failedByReason, { flow_error: 1 });
    assert.match(summary.tasks[0].flowErrors[0], /finished \(aiware-heartbeat ks-done\) ended the task \(complete\) before send keywords \(aiware-result-out ks-send\) got its message/);
    const task = readJson<TaskFile & { log: { level: string; nodeId?: string; flowError?: string }[] }>(path.join(out, summary.tasks[0].file));
    assert.deepEqual(
      task.log.map((l) => [l.level, l.nodeId, l.flowError]),
      [['error', 'ks-send', 'late']],
    );
    assert.match(run.stdout, /flow errors\n {2}1 .*fox\.txt: .*spot keywords \(function ks-spot\) is wired to both/);
    assert.match(run.stdout, /1 task, 0 ok, 1 failed \(flow_error 1\), 1 flow error/);
  });

  it("shows an engine's text with its control characters escaped, never as raw bytes to the terminal", async function () {
    const engine = await fakeEngine((_seen, res) => {
      const word = 'red\u001b[31m alert\u0007';
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ validationContracts: ['transcript'], series: [{ startTimeMs: 0, stopTimeMs: 10, words: [{ word }] }] }));
      return Promise.resolve();
    });
    try {
      const run = await sim(['run', '--engine-url', engine.processUrl, path.join(SAMPLES, 'fox.txt'), '--out', outDir()]);
      assert.equal(run.code, 0, explain(run));
      assert.ok(!run.stdout.includes('\u001b') && !run.stdout.includes('\u0007'), 'no escape or bell byte reaches the terminal');
      assert.match(run.stdout, /red\\x1b\[31m alert\\x07/);
    } finally {
      await engine.close();
    }
  });

  it('sends one task without a chunk, with the payload, fields and cache asked for', async function () {
    let cached = '';
    const engine = await fakeEngine(async (seen, res) => {
      cached = await getText(seen.fields.cacheURI);
      res.writeHead(204).end();
    });
    try {
      const cache = path.join(scratch, 'stream.txt');
      fs.writeFileSync(cache, 'line one\nline two\n');
      const out = outDir();
      const run = await sim([
        'run',
        '--engine-url',
        engine.processUrl,
        '--out',
        out,
        '--cache',
        cache,
        '--payload',
        '{"mode":"library-run","steps":2}',
        '--field',
        'chunk-metadata-camera=front',
        '--field',
        'libraryId=lib-1',
        '--chunk-context',
        'my-context',
        '--max-ttl',
        '120',
      ]);
      assert.equal(run.code, 0, explain(run));
      assert.equal(engine.seen.length, 1);
      const { fields, chunk } = engine.seen[0];
      assert.equal(chunk, undefined, 'no chunk part');
      assert.deepEqual({ ...JSON.parse(fields.payload), jobId: undefined, taskId: undefined }, { mode: 'library-run', steps: 2, organizationId: '1', jobId: undefined, taskId: undefined });
      assert.equal(fields['chunk-metadata-camera'], 'front');
      assert.equal(fields.libraryId, 'lib-1');
      assert.equal(fields.chunkContext, 'my-context');
      assert.equal(fields.maxTTL, '120');
      assert.equal(cached, 'line one\nline two\n');
      assert.equal(readJson<Summary>(path.join(out, 'summary.json')).tasks[0].status, 'ignored');
    } finally {
      await engine.close();
    }
  });

  it('stops with the engine’s message when readiness answers 500, without sending work: exit 4', async function () {
    const engine = await fakeEngine((_seen, res) => json(res, 200, transcript('unexpected')), { status: 500, body: { error: 'missing node types: aiware-magic' } });
    try {
      const out = outDir();
      const run = await sim(['run', '--engine-url', engine.processUrl, SAMPLES, '--out', out]);
      assert.equal(run.code, 4, explain(run));
      assert.match(run.stderr, /readyz answered 500: missing node types: aiware-magic/);
      assert.equal(engine.seen.length, 0);
      const summary = readJson<Summary>(path.join(out, 'summary.json'));
      assert.match(summary.stopped ?? '', /missing node types: aiware-magic/);
      assert.equal(summary.totals.tasks, 0);
    } finally {
      await engine.close();
    }
  });

  it('stops when the runner exits before it is ready, with its exit code and last lines: exit 4', async function () {
    const dying = path.join(scratch, 'dying-runner.js');
    fs.writeFileSync(dying, `console.log(JSON.stringify({ level: 'fatal', msg: 'cannot read ' + process.env.AIWARE_BUILD_RUNTIME })); process.exit(3);`);
    const out = outDir();
    const runtime = path.join(EXAMPLES, 'chunk-text-to-transcript.json');
    const run = await sim(['run', '--runtime', runtime, '--runner', dying, '--out', out]);
    assert.equal(run.code, 4, explain(run));
    assert.match(run.stderr, /the runner exited \(code 3\) before the engine was ready/);
    assert.ok(run.stderr.includes(`fatal cannot read ${runtime}`), run.stderr);
    assert.ok(fs.readFileSync(path.join(out, 'runner.log'), 'utf8').includes('cannot read'));
  });

  it('fails the task in flight when the runner dies under it: exit 3', async function () {
    // A runner that is ready at once and exits on its first work item.
    const crashing = path.join(scratch, 'crashing-runner.js');
    fs.writeFileSync(
      crashing,
      `const http = require('node:http');
      const { port } = new URL(process.env.VERITONE_WEBHOOK_PROCESS);
      http.createServer((req, res) => {
        if (req.url === '/readyz') return res.end('{}');
        console.log(JSON.stringify({ level: 'fatal', msg: 'out of memory on ' + req.url }));
        process.exit(5);
      }).listen(Number(port), '127.0.0.1');`,
    );
    const out = outDir();
    const run = await sim(['run', '--runtime', path.join(EXAMPLES, 'chunk-text-to-transcript.json'), '--runner', crashing, SAMPLES, '--out', out]);
    assert.equal(run.code, 3, explain(run));
    const summary = readJson<Summary>(path.join(out, 'summary.json'));
    assert.equal(summary.stopped, 'the runner exited (code 5)');
    assert.deepEqual(
      summary.tasks.map((t) => [t.status, t.failureReason, t.failureMsg]),
      [['failed', 'system_error', 'the runner exited (code 5)']],
    );
    assert.match(run.stderr, /fatal out of memory on \/process/);
  });

  it('Ctrl-C fails the task in flight, stops everything and exits 130', async function () {
    const engine = await fakeEngine(() => undefined); // takes the chunk and never answers
    try {
      const out = outDir();
      const run = await sim(['run', '--engine-url', engine.processUrl, SAMPLES, '--out', out], {
        started: (child) => {
          const poll = setInterval(() => {
            if (engine.seen.length > 0) {
              clearInterval(poll);
              child.kill('SIGINT');
            }
          }, 20);
          child.on('close', () => clearInterval(poll));
        },
      });
      assert.equal(run.code, 130, explain(run));
      const summary = readJson<Summary>(path.join(out, 'summary.json'));
      assert.equal(summary.stopped, 'interrupted by SIGINT');
      assert.deepEqual(
        summary.tasks.map((t) => [t.status, t.failureMsg]),
        [['failed', 'interrupted by SIGINT']],
      );
      // The folder's inputs: its test file and expected/ are not (aiware-sim test's).
      assert.equal(summary.totals.planned, fs.readdirSync(SAMPLES).filter((f) => f.endsWith('.txt')).length);
      assert.equal(engine.seen.length, 1, 'no task is sent after Ctrl-C');
    } finally {
      await engine.close();
    }
  });

  it('plays the outside service: an engine that pauses is woken with the service’s answer and completes, exit 0', async function () {
    const answer = { approved: false, correction: 'the quick red fox' };
    const engine = await fakeEngine(async (seen, res) => {
      const payload = JSON.parse(seen.fields.payload) as { isCallback?: boolean; data?: string; callback?: typeof answer; callbackServiceUrl: string; jobId: string; taskId: string };
      json(res, 200, { estimatedProcessingTimeInSeconds: 1 });
      const { token, veritoneApiBaseUrl, externalCallbackWebhook, heartbeatWebhook, resultWebhook, chunkContext } = seen.fields;
      if (payload.isCallback) {
        await postJson(resultWebhook, { index: 1, chunkContext, output: transcript(payload.callback?.correction ?? '') });
        await postJson(heartbeatWebhook, { status: 'complete', infoMsg: `resumed from ${payload.data}` });
        return;
      }
      // Platform mode, as aiWARE's callback steps 2, 6, 7 and 8 say (docs/pause-for-callback.md).
      const graphql = `${veritoneApiBaseUrl}/v3/graphql`;
      const auth = { Authorization: `Bearer ${token}` };
      const jwtAnswer = await postForJson(
        graphql,
        {
          query: 'mutation t($engineId: ID!, $jobId: ID!, $taskId: ID!) { getEngineJWT(input: {engineId: $engineId, resource: {jobId: $jobId, taskId: $taskId}}) { token } }',
          variables: { engineId: 'e-1', jobId: payload.jobId, taskId: payload.taskId },
        },
        auth,
      );
      const wakeUp = new URL('/callback', externalCallbackWebhook);
      wakeUp.searchParams.set('jwt', (jwtAnswer.body as { data: { getEngineJWT: { token: string } } }).data.getEngineJWT.token);
      wakeUp.searchParams.set('engineId', 'e-1');
      wakeUp.searchParams.set('data', '{"pauseId":"p-1"}');
      await postForJson(payload.callbackServiceUrl, { callbackUrl: wakeUp.href, item: seen.chunk });
      await postForJson(
        graphql,
        { query: 'mutation p($taskId: ID!) { updateTask(input: {id: $taskId, status: paused}) { id status } }', variables: { taskId: payload.taskId, status: 'paused' } },
        auth,
      );
    });
    try {
      const out = outDir();
      const run = await sim(['run', '--engine-url', engine.processUrl, path.join(SAMPLES, 'fox.txt'), '--out', out, '--service-delay', '0.2', '--service-answer', JSON.stringify(answer)]);
      assert.equal(run.code, 0, explain(run));
      assert.equal(engine.seen.length, 2);
      const [first, second] = engine.seen.map((seen) => JSON.parse(seen.fields.payload) as Record<string, unknown>);
      assert.match(String(first.callbackServiceUrl), /^http:\/\/127\.0\.0\.1:\d+\/service\?taskId=/);
      assert.deepEqual([second.isCallback, second.data, second.callback], [true, '{"pauseId":"p-1"}', answer]);

      const summary = readJson<Summary>(path.join(out, 'summary.json'));
      assert.deepEqual(
        summary.tasks.map((t) => [t.status, t.paused, t.wakeUps]),
        [['complete', 1, 1]],
      );
      const service = readJson<{ requests: { taskId: string; body: { item: string } }[]; calls: { kind: string; status: number; body: unknown }[] }>(path.join(out, 'service.json'));
      assert.equal(service.requests.length, 1);
      assert.equal(service.requests[0].body.item, fs.readFileSync(path.join(SAMPLES, 'fox.txt'), 'utf8'));
      assert.deepEqual(
        service.calls.map((c) => [c.kind, c.status]),
        [['callback', 202]],
      );
      assert.match(run.stdout, /pause and callback\n {2}service: 1 job, 1 call \(service\.json\)\n {2}1 .*fox\.txt: paused 1×; woken 1× \(\/process 200\); service: callback → 202/);
      assert.match(run.stdout, /the quick red fox/);
      assert.match(run.stderr, /paused, waiting for its wake-up/);
    } finally {
      await engine.close();
    }
  });

  it('runs an engine that never pauses with --service-delay as without it, and lists the service flags in --help', async function () {
    const engine = await fakeEngine((_seen, res) => json(res, 200, transcript('no pause here')));
    try {
      const out = outDir();
      const run = await sim(['run', '--engine-url', engine.processUrl, path.join(SAMPLES, 'fox.txt'), '--out', out, '--service-delay', '1', '--service-fail', 'nobody home']);
      assert.equal(run.code, 0, explain(run));
      const service = readJson<{ delayMs: number; fail: string; requests: unknown[]; calls: unknown[] }>(path.join(out, 'service.json'));
      assert.deepEqual([service.delayMs, service.fail, service.requests, service.calls], [1000, 'nobody home', [], []]);
      assert.doesNotMatch(run.stdout, /pause and callback\n {2}1 /);
    } finally {
      await engine.close();
    }
    const help = await sim(['run', '--help']);
    assert.equal(help.code, 0, explain(help));
    for (const flag of ['--service-delay <s>', '--service-answer <json>', '--service-fail <message>', '--service-progress <text>']) assert.ok(help.stdout.includes(flag), `--help lists ${flag}`);
  });

  describe('usage errors exit 2 with one line', function () {
    const url = 'http://127.0.0.1:9/process';
    const cases: [string, string[], RegExp][] = [
      ['no engine', ['run', 'a.txt'], /no engine: give --runtime/],
      ['both engines', ['run', '--engine-url', url, '--runtime', 'examples/chunk-text-to-transcript.json'], /cannot be used with/],
      ['a missing runtime file', ['run', '--runtime', 'nowhere.json'], /--runtime: nowhere\.json does not exist/],
      ['a missing input', ['run', '--engine-url', url, 'nowhere.txt'], /input nowhere\.txt does not exist/],
      ['a URL that is not one', ['run', '--engine-url', 'localhost-ish'], /--engine-url must be a URL/],
      ['a concurrency of 0', ['run', '--engine-url', url, '--concurrency', '0'], /--concurrency must be a whole number from 1/],
      ['a payload that is not JSON', ['run', '--engine-url', url, '--payload', '{bad'], /--payload: .* is not JSON/],
      ['a field without a value', ['run', '--engine-url', url, '--field', 'novalue'], /--field takes name=value/],
      ['an unknown option', ['run', '--engine-url', url, '--bogus'], /unknown option '--bogus'/],
      ['a negative service delay', ['run', '--engine-url', url, '--service-delay', '-1'], /--service-delay must be a number of seconds from 0, got "-1"/],
      ['a service delay that is not a number', ['run', '--engine-url', url, '--service-delay', 'soon'], /--service-delay must be a number of seconds/],
      ['a service answer that is not JSON', ['run', '--engine-url', url, '--service-delay', '1', '--service-answer', '{approved'], /--service-answer: .* is not JSON/],
      ['a service answer without the service', ['run', '--engine-url', url, '--service-answer', '{}'], /--service-answer goes with --service-delay/],
      ['both a service answer and a failure', ['run', '--engine-url', url, '--service-delay', '1', '--service-answer', '{}', '--service-fail', 'no'], /either --service-answer or --service-fail/],
    ];
    for (const [what, args, message] of cases) {
      it(what, async function () {
        const run = await sim(args);
        assert.equal(run.code, 2, explain(run));
        assert.match(run.stderr, message);
        assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
        assert.equal(run.stdout, '');
      });
    }
  });
});
