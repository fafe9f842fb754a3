// The task registry on its own (core/task/registry.ts): a fake clock for heartbeats and deadlines, and
// Engine Toolkit's heartbeat and result webhooks on a real loopback server, reached by the real
// webhook client. Only timers and Date are faked: sockets, setImmediate and promises stay real.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { install, type Clock } from '@sinonjs/fake-timers';
import { parseProcessFields, ProtocolError, TaskRegistry, type OpenOptions, type Task, type TaskEnd, type TaskSettings, WebhookClient, WebhookError, type RetryEvent } from '../../../core';
import { Conditions } from '../../support/conditions';

/** One POST as the toolkit saw it. `arrived` and `answered` are steps of one counter, to order them. */
interface Post {
  path: string;
  body: Record<string, unknown>;
  arrived: number;
  answered?: number;
  status?: number;
}

/** Engine Toolkit's webhooks on a real port: records every post and answers it as scripted (204 by default). */
class ToolkitHooks {
  readonly posts: Post[] = [];
  private step = 0;
  /** The next answers, in order: a status, or a promise of one to hold the answer back. */
  private script: (number | Promise<number>)[] = [];
  private holds: ((status: number) => void)[] = [];
  private readonly arrivals = new Conditions();
  private server!: http.Server;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (data: Buffer) => parts.push(data));
      req.on('end', () => {
        const post: Post = { path: req.url ?? '', body: JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>, arrived: ++this.step };
        this.posts.push(post);
        void Promise.resolve(this.script.shift() ?? 204).then((status) => {
          post.status = status;
          post.answered = ++this.step;
          res.writeHead(status);
          res.end();
        });
        this.arrivals.check();
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next posts get these statuses, in order. */
  answer(...statuses: number[]): void {
    this.script.push(...statuses);
  }

  /** The next post waits for its answer until the returned function is called. */
  hold(): (status: number) => void {
    let release!: (status: number) => void;
    this.script.push(new Promise<number>((resolve) => (release = resolve)));
    this.holds.push(release);
    return release;
  }

  /** Resolves once `count` posts have arrived. */
  async received(count: number): Promise<Post[]> {
    await this.arrivals.when(() => this.posts.length >= count);
    return this.posts;
  }

  heartbeats(path = '/heartbeat'): Record<string, unknown>[] {
    return this.posts.filter((post) => post.path === path).map((post) => post.body);
  }

  reset(): void {
    for (const release of this.holds) release(204);
    this.holds = [];
    this.script = [];
    this.posts.length = 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/**
 * The real webhook client, counting the posts it has on their way, so that a test can wait
 * until the toolkit has answered all of them (nothing is "still coming") before it asserts.
 */
class WatchedClient extends WebhookClient {
  inFlight = 0;
  readonly retries: RetryEvent[];
  private readonly changes: Conditions;

  constructor() {
    const retries: RetryEvent[] = [];
    const changes = new Conditions();
    super({
      retry: { initialDelayMs: 100, maxDelayMs: 1000, requestTimeoutMs: 5000 },
      onRetry: (event) => {
        retries.push(event);
        changes.check();
      },
    });
    this.retries = retries;
    this.changes = changes;
  }

  override async post(...args: Parameters<WebhookClient['post']>): Promise<void> {
    this.inFlight++;
    try {
      await super.post(...args);
    } finally {
      this.inFlight--;
      // After what the task does once a post settles (its queue, its next post) has run.
      setImmediate(() => this.changes.check());
    }
  }

  /** Resolves once every post has been answered (or given up on). */
  settled(): Promise<void> {
    return this.changes.when(() => this.inFlight === 0);
  }

  /** Resolves with the `count`th retry, once the client is about to wait before sending it. */
  async retried(count: number): Promise<RetryEvent> {
    await this.changes.when(() => this.retries.length >= count);
    return this.retries[count - 1];
  }
}

const OUTPUT = (word: string) => ({ validationContracts: ['transcript'], series: [{ startTimeMs: 0, stopTimeMs: 1000, words: [{ word }] }] });
const bytes = (...outputs: unknown[]) => outputs.reduce<number>((sum, output) => sum + Buffer.byteLength(JSON.stringify(output)), 0);

describe('the task registry (core/task/registry.ts)', function () {
  const hooks = new ToolkitHooks();
  let clock: Clock;
  let client: WatchedClient;
  let registry: TaskRegistry;
  let ends: TaskEnd[];

  function newRegistry(settings: Partial<TaskSettings> = {}): TaskRegistry {
    registry = new TaskRegistry({ settings: { heartbeatIntervalMs: 1000, defaultTTLSeconds: 60, finalHeartbeatGraceMs: 5000, ...settings }, client });
    ends = [];
    registry.on('end', (end: TaskEnd) => ends.push(end));
    return registry;
  }

  /** An asynchronous stream task, with both webhooks on the toolkit's server. */
  function openAsync(fields: Record<string, string> = {}, options: Partial<OpenOptions> = {}): Task {
    const parsed = parseProcessFields({
      heartbeatWebhook: `${hooks.url}/heartbeat`,
      resultWebhook: `${hooks.url}/result`,
      chunkContext: 'ctx-1',
      startOffsetMS: '0',
      endOffsetMS: '1000',
      maxTTL: '60',
      ...fields,
    });
    return registry.open({ parsed, engineType: 'stream', respond: 'async', ...options });
  }

  /** A synchronous chunk task; `replies` records how its /process request is answered. */
  function openSync(replies: [number, unknown][], fields: Record<string, string> = {}): Task {
    const parsed = parseProcessFields({ heartbeatWebhook: `${hooks.url}/heartbeat`, resultWebhook: `${hooks.url}/result`, maxTTL: '60', ...fields });
    return registry.open({ parsed, engineType: 'chunk', respond: 'sync', reply: (status, body) => replies.push([status, body]) });
  }

  before(async function () {
    await hooks.start();
  });

  after(async function () {
    await hooks.stop();
  });

  beforeEach(function () {
    hooks.reset();
    clock = install({ now: Date.now(), toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    client = new WatchedClient();
    newRegistry();
  });

  afterEach(async function () {
    clock.uninstall();
    hooks.reset();
    await client.settled();
  });

  describe('an asynchronous task', function () {
    it('posts its results one at a time, in order, and says complete only once ET has answered them all', async function () {
      const release = hooks.hold();
      const task = openAsync();
      const first = task.result(OUTPUT('one'));
      const second = task.result(OUTPUT('two'), { startOffsetMs: 1000, endOffsetMs: 2000 });
      task.complete({ infoMsg: 'all done' });
      await hooks.received(1);
      assert.equal(client.inFlight, 1, 'while ET holds result 1, result 2 and the complete heartbeat wait their turn');

      release(204);
      await Promise.all([first, second]);
      const [r1, r2, complete] = await hooks.received(3);
      await client.settled();
      assert.equal(hooks.posts.length, 3);
      assert.deepEqual(r1.body, { chunkContext: 'ctx-1', startOffsetMs: 0, endOffsetMs: 1000, index: 1, output: OUTPUT('one') });
      assert.deepEqual(r2.body, { chunkContext: 'ctx-1', startOffsetMs: 1000, endOffsetMs: 2000, index: 2, output: OUTPUT('two') });
      assert.equal(complete.path, '/heartbeat');
      assert.ok(complete.arrived > r2.answered!, 'complete arrives after ET answered the last result');
      assert.deepEqual(complete.body, { status: 'complete', bytesRead: 0, bytesWritten: bytes(OUTPUT('one'), OUTPUT('two')), messagesWritten: 2, infoMsg: 'all done' });
      assert.equal(task.state, 'complete');
      assert.equal(task.infoMsg, 'all done');
    });

    it('retries a result ET refused with 503, and completes the task once ET has it', async function () {
      hooks.answer(503);
      const task = openAsync();
      const delivered = task.result(OUTPUT('again'), { complete: true });
      const retry = await client.retried(1);
      assert.equal(retry.delayMs, 100);
      assert.equal(task.state, 'open', 'a 503 is "try again", not a failure');
      await clock.tickAsync(retry.delayMs);
      await delivered;
      await hooks.received(3);
      await client.settled();
      assert.deepEqual(
        hooks.posts.map((post) => [post.path, post.status, post.body.index ?? post.body.status]),
        [
          ['/result', 503, 1],
          ['/result', 204, 1],
          ['/heartbeat', 204, 'complete'],
        ],
      );
      assert.equal(hooks.heartbeats()[0].messagesWritten, 1);
    });

    it('fails once: ET hears the first failure, and a second fail or a complete changes nothing', async function () {
      const task = openAsync();
      task.fail({ reason: 'url_error', message: 'the first failure' });
      task.fail({ reason: 'other', message: 'a second failure' }, { infoMsg: 'second' });
      task.complete({ infoMsg: 'too late' });
      await task.flushed();
      await client.settled();
      assert.deepEqual(hooks.heartbeats(), [{ status: 'failed', bytesRead: 0, bytesWritten: 0, messagesWritten: 0, failureReason: 'url_error', failureMsg: 'the first failure' }]);
      assert.equal(task.state, 'failed');
      assert.equal(task.infoMsg, undefined, 'what came after the failure was not taken');
      assert.deepEqual(
        ends.map((end) => [end.state, end.reason, end.message]),
        [['failed', 'url_error', 'the first failure']],
      );
      assert.throws(
        () => task.result(OUTPUT('late')),
        (err: unknown) => err instanceof ProtocolError && err.status === 409 && err.message.includes('already ended (failed)'),
      );
      assert.throws(
        () => task.update({ infoMsg: 'late' }),
        (err: unknown) => err instanceof ProtocolError && err.status === 409,
      );
    });

    it('fails with url_not_found when ET refuses a result with 404, and the flow failing it afterwards changes nothing', async function () {
      hooks.answer(404);
      const task = openAsync();
      await assert.rejects(task.result(OUTPUT('lost')), (err: unknown) => err instanceof WebhookError && err.reason === 'url_not_found');
      task.fail({ reason: 'internal_error', message: 'the flow saw the error too' });
      task.complete();
      await task.flushed();
      await client.settled();
      const heartbeats = hooks.heartbeats();
      assert.equal(heartbeats.length, 1, JSON.stringify(heartbeats));
      assert.equal(heartbeats[0].status, 'failed');
      assert.equal(heartbeats[0].failureReason, 'url_not_found');
      assert.match(String(heartbeats[0].failureMsg), /^result 1 was not delivered: .*\/result answered 404/);
    });

    it('cancels a result still on its way when it fails, and ET hears "failed" after it', async function () {
      hooks.hold();
      const task = openAsync();
      const delivery = task.result(OUTPUT('held'));
      await hooks.received(1);
      task.fail({ reason: 'external_error', message: 'the source went away' });
      await assert.rejects(delivery, /cancelled/);
      const [result, failed] = await hooks.received(2);
      await client.settled();
      assert.equal(result.path, '/result');
      assert.deepEqual(failed.body, { status: 'failed', bytesRead: 0, bytesWritten: 0, messagesWritten: 0, failureReason: 'external_error', failureMsg: 'the source went away' });
      assert.equal(ends.length, 1);
    });
  });

  describe('running heartbeats', function () {
    it('sends one per interval for each open asynchronous task, with its counters, and stops when none is open', async function () {
      const a = openAsync({ heartbeatWebhook: `${hooks.url}/heartbeat/a` }, { bytesRead: 42 });
      const b = openAsync({ heartbeatWebhook: `${hooks.url}/heartbeat/b` });
      const replies: [number, unknown][] = [];
      const chunk = openSync(replies);
      const running = (path: string) => hooks.heartbeats(path).filter((heartbeat) => heartbeat.status === 'running');

      await clock.tickAsync(999);
      await client.settled();
      assert.equal(hooks.posts.length, 0, 'nothing before the first interval');
      await clock.tickAsync(1);
      await client.settled();
      assert.deepEqual(running('/heartbeat/a'), [{ status: 'running', bytesRead: 42, bytesWritten: 0, messagesWritten: 0 }]);
      assert.equal(running('/heartbeat/b').length, 1);
      await clock.tickAsync(1000);
      await client.settled();
      assert.deepEqual([running('/heartbeat/a').length, running('/heartbeat/b').length], [2, 2]);

      a.complete();
      await a.flushed();
      await clock.tickAsync(1000);
      await client.settled();
      assert.deepEqual([running('/heartbeat/a').length, running('/heartbeat/b').length], [2, 3], 'a complete task gets no more');

      b.complete();
      await b.flushed();
      await clock.tickAsync(5000);
      await client.settled();
      assert.deepEqual([running('/heartbeat/a').length, running('/heartbeat/b').length], [2, 3], 'the ticker stopped with the last asynchronous task');
      assert.deepEqual(hooks.heartbeats('/heartbeat').length, 0, 'the synchronous task never heartbeats');
      assert.equal(clock.countTimers(), 1, "only the synchronous task's deadline is left");
      chunk.ignore();
      assert.deepEqual(replies, [[204, undefined]]);
      assert.equal(clock.countTimers(), 0, 'no ticker and no deadline once every task has ended');
    });

    it('spreads them over the interval: each task beats at the phase it opened at, not all at one tick', async function () {
      const a = openAsync({ heartbeatWebhook: `${hooks.url}/heartbeat/a` });
      await clock.tickAsync(500);
      const b = openAsync({ heartbeatWebhook: `${hooks.url}/heartbeat/b` });
      const count = () => ['a', 'b'].map((n) => hooks.heartbeats(`/heartbeat/${n}`).filter((h) => h.status === 'running').length);
      const seen: number[][] = [];
      // Looked at t = 1000, 1500, 2000 and 2500 ms: a opened at 0, b at 500.
      for (let look = 0; look < 4; look++) {
        await clock.tickAsync(500);
        await client.settled();
        seen.push(count());
      }
      assert.deepEqual(seen, [
        [1, 0],
        [1, 1],
        [2, 1],
        [2, 2],
      ]);
      a.complete();
      b.complete();
      await Promise.all([a.flushed(), b.flushed()]);
    });

    it('says complete last, even when ET had refused the running heartbeat and it is being retried', async function () {
      hooks.answer(503);
      const task = openAsync();
      await clock.tickAsync(1000);
      const retry = await client.retried(1);
      task.complete();
      await clock.tickAsync(retry.delayMs);
      await hooks.received(3);
      await client.settled();
      assert.deepEqual(
        hooks.posts.map((post) => `${String(post.body.status)} ${post.status}`),
        ['running 503', 'running 204', 'complete 204'],
      );
    });
  });

  describe('maxTTL', function () {
    beforeEach(function () {
      // Running heartbeats out of the way: these tests are about the deadline.
      newRegistry({ heartbeatIntervalMs: 3_600_000 });
    });

    it('fails a task the flow never ends when maxTTL passes, with internal_error and a message saying so', async function () {
      const task = openAsync({ maxTTL: '5' });
      await clock.tickAsync(4999);
      assert.equal(task.state, 'open');
      await clock.tickAsync(1);
      assert.equal(task.state, 'failed');
      await task.flushed();
      await client.settled();
      assert.deepEqual(hooks.heartbeats(), [
        { status: 'failed', bytesRead: 0, bytesWritten: 0, messagesWritten: 0, failureReason: 'internal_error', failureMsg: 'the flow did not end the task within maxTTL (5 s)' },
      ]);
      assert.equal(registry.size, 0);
      assert.equal(clock.countTimers(), 0);
    });

    it('gives a task defaultTTLSeconds when ET sends no maxTTL, and answers a synchronous one 500 when it passes', async function () {
      newRegistry({ defaultTTLSeconds: 20 });
      const replies: [number, unknown][] = [];
      const task = openSync(replies, { maxTTL: '' });
      await clock.tickAsync(19_999);
      assert.deepEqual(replies, []);
      await clock.tickAsync(1);
      assert.deepEqual(replies, [[500, { error: 'the flow did not end the task within maxTTL (20 s)', failureReason: 'internal_error' }]]);
      assert.equal(task.state, 'failed');
    });

    it('keeps a task open for a maxTTL longer than one timer can wait (30 days)', async function () {
      const seconds = 30 * 24 * 3600;
      const replies: [number, unknown][] = [];
      const task = openSync(replies, { maxTTL: String(seconds) });
      await clock.tickAsync(1000);
      assert.equal(task.state, 'open', 'a timer past 2^31-1 ms would have fired at once');
      await clock.tickAsync(seconds * 1000 - 1001);
      assert.equal(task.state, 'open');
      await clock.tickAsync(1);
      assert.equal(task.state, 'failed');
      assert.equal(replies.length, 1);
      assert.equal(replies[0][0], 500);
    });
  });

  describe('a synchronous task', function () {
    const endings: { name: string; end: (task: Task) => void; reply: [number, unknown] }[] = [
      { name: 'its result', end: (task) => void task.result(OUTPUT('sync')), reply: [200, OUTPUT('sync')] },
      { name: 'ignore', end: (task) => task.ignore(), reply: [204, undefined] },
      { name: 'complete without output', end: (task) => task.complete(), reply: [204, undefined] },
      {
        name: 'a failure',
        end: (task) => task.fail({ reason: 'invalid_data', message: 'bad output', node: 'out', status: 422 }),
        reply: [422, { error: 'bad output', failureReason: 'invalid_data', node: 'out' }],
      },
    ];
    for (const ending of endings) {
      it(`answers /process once, with ${ending.name}, whatever comes after`, async function () {
        const replies: [number, unknown][] = [];
        const task = openSync(replies);
        ending.end(task);
        task.fail({ reason: 'other', message: 'later' });
        task.complete();
        task.abandon();
        assert.throws(() => task.ignore(), ProtocolError);
        assert.throws(() => task.result(OUTPUT('again')), ProtocolError);
        assert.deepEqual(replies, [ending.reply]);
        assert.equal(ends.length, 1);
        await client.settled();
        assert.equal(hooks.posts.length, 0, 'a synchronous task posts nothing');
      });
    }

    it('is abandoned when the toolkit hangs up: failed with internal_error, answered never', function () {
      const replies: [number, unknown][] = [];
      const task = openSync(replies);
      task.abandon();
      task.fail({ reason: 'other', message: 'later' });
      assert.deepEqual(replies, []);
      assert.equal(task.state, 'failed');
      assert.deepEqual(
        ends.map((end) => [end.state, end.reason, end.message]),
        [['failed', 'internal_error', 'the toolkit closed the /process request before it was answered']],
      );
      assert.equal(registry.size, 0);
      assert.equal(clock.countTimers(), 0, 'its deadline is cleared');
    });

    it('ignores an abandon once it has been answered', function () {
      const replies: [number, unknown][] = [];
      const task = openSync(replies);
      void task.result(OUTPUT('answered'));
      task.abandon();
      assert.equal(task.state, 'complete');
      assert.equal(replies.length, 1);
      assert.deepEqual(
        ends.map((end) => end.state),
        ['complete'],
      );
    });
  });
});
