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

  function posts(): { posts: TaskPosts; warnings: string[]; task: PostingTask & { counters: Counters; infoMsg: string | undefined } } {
    const warnings: string[] = [];
    const task = { deadline: Date.now() + 30_000, counters: { bytesRead: 0, bytesWritten: 0, messagesWritten: 0 }, infoMsg: 'working' as string | undefined };
    const tracked: Promise<void>[] = [];
    const home = {
      settings: DEFAULT_TASK_SETTINGS,
      client: new WebhookClient({ retry: { initialDelayMs: 5, maxDelayMs: 20 } }),
      warn: (t: string) => warnings.push(t),
      track: (p: Promise<void>) => void tracked.push(p),
    };
    return { posts: new TaskPosts(task, home), warnings, task };
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
