// A task's posts (core/task/posts.ts) against a loopback ET: results and the flow's heartbeats in
// the order they were handed over, the final heartbeat last (after a wheel heartbeat on its way),
// a wheel heartbeat skipped while the previous one is out, and posts under way dropped on abort.
import * as assert from 'node:assert/strict';
import { DEFAULT_TASK_SETTINGS, WebhookClient, type Counters } from '../../../core';
import { TaskPosts, type PostingTask } from '../../../core/task/posts';
import { serve, type Loopback } from '../../support/loopback';

describe('a task’s posts (core/task/posts.ts)', function () {
  let server: Loopback;
  let url: string;
  const received: { path: string; body: Record<string, unknown> }[] = [];
  /** Milliseconds to hold the answer to the next posts, in order. */
  let holds: number[] = [];

  before(async function () {
    server = await serve((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(parts).toString()) as Record<string, unknown> });
        setTimeout(() => res.writeHead(204).end(), holds.shift() ?? 0);
      });
    });
    url = server.url;
  });
  after(async function () {
    await server.close();
  });
  beforeEach(function () {
    received.length = 0;
    holds = [];
  });

  function posts(): { posts: TaskPosts; warnings: string[]; periods: number[]; task: PostingTask & { counters: Counters; infoMsg: string | undefined } } {
    const warnings: string[] = [];
    const periods: number[] = [];
    const task = { deadline: Date.now() + 30_000, counters: { bytesRead: 0, bytesWritten: 0, messagesWritten: 0 }, infoMsg: 'working' as string | undefined };
    const tracked: Promise<void>[] = [];
    const home = {
      settings: DEFAULT_TASK_SETTINGS,
      client: new WebhookClient({ retry: { initialDelayMs: 5, maxDelayMs: 20 } }),
      warn: (t: string) => warnings.push(t),
      track: (p: Promise<void>) => void tracked.push(p),
      period: (ms: number) => periods.push(ms),
    };
    return { posts: new TaskPosts(task, home), warnings, periods, task };
  }

  it('posts results and the flow’s heartbeats in order, the final heartbeat last with the counters of then', async function () {
    const { posts: p, task } = posts();
    holds = [50];
    let delivered = 0;
    const first = p.post(`${url}/result`, { index: 1 }, { 'Idempotency-Key': 't/result/1' }, () => {
      delivered++;
      task.counters.messagesWritten++;
    });
    p.progress(`${url}/heartbeat`);
    p.final(`${url}/heartbeat`, { status: 'complete' });
    await first;
    await p.flushed();
    assert.equal(delivered, 1);
    assert.deepEqual(
      received.map((r) => [r.path, r.body.index ?? r.body.status]),
      [
        ['/result', 1],
        ['/heartbeat', 'running'],
        ['/heartbeat', 'complete'],
      ],
    );
    assert.equal(received[2].body.messagesWritten, 1, 'the final heartbeat counts the result delivered before it');
  });

  it('skips a wheel heartbeat while the previous one is on its way, and the final one waits for it', async function () {
    const { posts: p } = posts();
    holds = [200];
    p.tick(`${url}/heartbeat`, 'tick 1');
    p.tick(`${url}/heartbeat`, 'tick 2');
    p.final(`${url}/heartbeat`, { status: 'failed', failureReason: 'other', failureMsg: 'stop' });
    await p.flushed();
    assert.deepEqual(
      received.map((r) => [r.body.status, r.body.infoMsg]),
      [
        ['running', 'tick 1'],
        ['failed', 'working'],
      ],
    );
  });

  it("reports the time between a task's wheel heartbeats as they are sent, a skipped one making the next period long", async function () {
    const { posts: p, periods } = posts();
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    /** A wheel heartbeat, and its answer awaited (a wheel heartbeat is not on the queue `flushed` waits for). */
    const beat = async (): Promise<void> => {
      const before = received.length;
      p.tick(`${url}/heartbeat`, undefined);
      while (received.length === before) await pause(1);
      await pause(5);
    };
    await beat();
    assert.equal(periods.length, 0, 'the first heartbeat has no period before it');
    await pause(30);
    await beat();
    // The next one is held 100 ms: a tick 20 ms after it finds it on its way, is skipped, and reports nothing.
    holds = [100];
    await beat();
    await pause(20);
    p.tick(`${url}/heartbeat`, undefined);
    assert.equal(periods.length, 2, JSON.stringify(periods));
    await pause(150);
    await beat();
    assert.equal(periods.length, 3, JSON.stringify(periods));
    assert.ok(periods[0] >= 29, `the second came ~30 ms after the first: ${periods[0]}`);
    assert.ok(periods[2] >= 169, `the one after the skipped tick counts from the last one sent: ${periods[2]}`);
  });

  it('drops a result under way on abort, and says so for a heartbeat it could not deliver', async function () {
    const { posts: p, warnings } = posts();
    holds = [5000];
    const result = p.post(`${url}/result`, { index: 1 }, {}, () => assert.fail('delivered'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    p.abort();
    await assert.rejects(result);
    p.progress('http://127.0.0.1:1/heartbeat');
    await p.flushed();
    assert.match(warnings.join('\n'), /running heartbeat not delivered/);
  });
});
