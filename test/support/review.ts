// The human-review story's parts for the pause-for-callback tests: the outside service (a small
// loopback server that records the callback URLs a flow sends it) and the engine's flow.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ToolkitEmulator, freePort, type TaskRecord, type WorkItem } from '@aiware-nodered/aiware-sim';
import { fn, heartbeat, onTestTab, processIn, resultOut } from './engine';
import { startRunner, type RunnerProcess } from './runner';

/** The outside service: records what the flow sends it (the callback URLs) and answers 202. */
export class ReviewService {
  readonly requests: Record<string, unknown>[] = [];
  private waiters: ((body: Record<string, unknown>) => void)[] = [];

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(): Promise<ReviewService> {
    const server = http.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const service = new ReviewService(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/review`);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') as Record<string, unknown>;
        service.requests.push(body);
        res.writeHead(202, { 'Content-Type': 'application/json' }).end('{"accepted":true}');
        const waiter = service.waiters.shift();
        waiter?.(body);
      });
    });
    return service;
  }

  /** The request number `index` (0-based), once it has come. */
  async request(index: number, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length <= index) {
      if (Date.now() > deadline) throw new Error(`the review service got ${this.requests.length} requests, waited for ${index + 1}`);
      await new Promise<void>((resolve) => {
        // The deadline's timer goes when the request comes, so it does not keep the run alive.
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.requests[index];
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** POSTs `body` (JSON unless a type is given) and gives the status and the parsed answer. */
export async function post(url: string, body?: unknown, type = 'application/json'): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: body === undefined ? {} : { 'Content-Type': type },
    body: body === undefined ? undefined : typeof body === 'string' ? body : Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

let pauses = 0;

/**
 * The human-review engine: words with low confidence go to review; the reviewer's answer (or the
 * original words, when the reviewer approves) becomes the transcript. Output 3 is wired to
 * `failed` (captured) unless `failureWired` is false.
 */
export function reviewFlow(props: Record<string, unknown> = {}, options: { failureWired?: boolean; respond?: string } = {}): { nodes: Record<string, unknown>[]; pauseId: string } {
  const pauseId = `pause${++pauses}`;
  const nodes = [
    processIn({ engineType: 'chunk', respond: options.respond ?? 'async' }, ['score']),
    fn(
      'score',
      `const text = String(msg.payload).trim();
msg.words = text.split(/\\s+/).map((word) => ({ word, confidence: word.length < 4 ? 0.3 : 0.95 }));
return msg.words.some((w) => w.confidence < 0.5) ? [null, msg] : [msg, null];`,
      [['vtn'], [pauseId]],
    ),
    { id: pauseId, type: 'aiware-pause-for-callback', mode: 'local', timeout: '60', ...props, wires: [['ask'], ['apply'], options.failureWired === false ? [] : ['failed']] },
    fn(
      'ask',
      `msg.url = msg.aiware.payload.callbackServiceUrl;
msg.method = 'POST';
msg.headers = { 'content-type': 'application/json' };
msg.payload = { callbackUrl: msg.callbackUrl, progressUrl: msg.pause.progressUrl, failUrl: msg.pause.failUrl, capped: msg.pause.capped, words: msg.words };
return msg;`,
      [['post']],
    ),
    { id: 'post', type: 'http request', method: 'use', ret: 'obj', url: '', wires: [[]] },
    fn('apply', `const capture = global.get('capture'); if (capture) capture(msg); if (msg.callback && msg.callback.words) msg.words = msg.callback.words; return msg;`, [['vtn']]),
    fn('vtn', `msg.payload = { validationContracts: ['transcript'], series: msg.words.map((w, i) => ({ startTimeMs: i * 1000, stopTimeMs: (i + 1) * 1000, words: [w] })) }; return msg;`, [['out']]),
    resultOut('out'),
    fn('failed', `const capture = global.get('capture'); if (capture) capture(msg); return msg;`, [['hb']]),
    heartbeat('hb', { status: 'failed', failureReason: 'external_error' }),
  ];
  return { nodes, pauseId };
}

/** The wake-up URL's `data` parameter. */
export function dataOf(url: string): string {
  return new URL(url).searchParams.get('data') ?? '';
}

export function words(record: TaskRecord, index = 0): string[] {
  const output = record.results[index].output as { series: { words: { word: string }[] }[] };
  return output.series.flatMap((s) => s.words.map((w) => w.word));
}

/**
 * For a describe block whose runners pause for a reviewer and outlive one another: an emulator,
 * the review service, and one work folder and port every runner it starts shares (made before the
 * block, removed after it, each runner killed).
 */
export class ReviewRunners {
  toolkit!: ToolkitEmulator;
  service!: ReviewService;
  private dir = '';
  private port = 0;
  private readonly runners: RunnerProcess[] = [];

  constructor(prefix: string) {
    before(async () => {
      this.toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
      this.service = await ReviewService.start();
      this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      this.port = await freePort();
    });
    after(async () => {
      for (const runner of this.runners) await runner.kill();
      await this.service.stop();
      await this.toolkit.stop();
      fs.rmSync(this.dir, { recursive: true, force: true });
    });
  }

  /** The work folder every runner of the block shares. */
  get folder(): string {
    return this.dir;
  }

  /** A runner of `nodes` on the shared folder and port (the folder stays when it stops: the next one starts on it). */
  start(nodes: Record<string, unknown>[], env: Record<string, string> = {}): RunnerProcess {
    const runner = startRunner(onTestTab(nodes), env, { dir: this.dir, port: this.port, removeAtStop: [] });
    this.runners.push(runner);
    return runner;
  }

  /**
   * A task of a platform-mode review flow paused through aiWARE, its runner then stopped (SIGTERM):
   * the task, what the flow sent the reviewer, and the PAYLOAD_JSON with which aiWARE would start an
   * engine to wake it (docs/pause-for-callback.md, platform mode).
   */
  async pausedOnPlatform(nodes: Record<string, unknown>[], env: Record<string, string>): Promise<{ item: WorkItem; review: Record<string, unknown>; payloadJson: string }> {
    const { toolkit, service } = this;
    const runner = this.start(nodes, env);
    const url = await runner.ready();
    const asked = service.requests.length;
    const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url }) });
    const answer = await toolkit.process(`${url}/process`, item, { data: 'wake me', mimeType: 'text/plain' });
    if (answer.status !== 200) throw new Error(`the work item was answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    const review = await service.request(asked);
    await toolkit.waitFor((rec) => rec.status === 'paused', item.taskId);
    await runner.stop();
    const payload = { jobId: item.fields.internalJobId, taskId: item.taskId, token: item.fields.token, veritoneApiBaseUrl: toolkit.url, isCallback: true, data: dataOf(String(review.callbackUrl)) };
    return { item, review, payloadJson: JSON.stringify(payload) };
  }

  /** A runner started as aiWARE starts one to wake a task (PAYLOAD_JSON), once it has sent the wake-up to its /process. */
  async wokenFrom(payloadJson: string, nodes: Record<string, unknown>[], env: Record<string, string>): Promise<RunnerProcess> {
    const runner = this.start(nodes, { ...env, PAYLOAD_JSON: payloadJson });
    await runner.waitForLog((line) => line.msg === 'woken from PAYLOAD_JSON', 20_000);
    return runner;
  }
}
