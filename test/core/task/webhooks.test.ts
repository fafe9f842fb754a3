// The webhook client (core/task/webhooks.ts) against a real loopback server playing Engine Toolkit's
// webhooks: retries, deadlines, the reasons it gives, the Idempotency-Key of a result sent again.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { parseProcessFields, WebhookClient, WebhookError, TaskRegistry } from '../../../core';

describe('the webhook client', function () {
  let server: http.Server;
  let url: string;
  let answers: number[];
  let received: unknown[];
  let keys: (string | undefined)[];
  /** Answers withheld this long after the body is recorded, one per post (ET recording a post but answering late). */
  let late: number[];

  before(async function () {
    server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(parts).toString()));
        keys.push(req.headers['idempotency-key'] as string | undefined);
        const answer = (): void => {
          if (res.destroyed) return;
          res.writeHead(answers.shift() ?? 204);
          res.end();
        };
        const wait = late.shift();
        if (wait) setTimeout(answer, wait);
        else answer();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });

  after(function () {
    server.closeAllConnections();
    server.close();
  });

  beforeEach(function () {
    answers = [];
    received = [];
    keys = [];
    late = [];
  });

  const client = new WebhookClient({ retry: { initialDelayMs: 5, maxDelayMs: 20 } });

  it('retries 5xx and 429 until the toolkit takes it', async function () {
    answers = [503, 500, 429];
    await client.post(url, { status: 'running' }, Date.now() + 5000);
    assert.equal(received.length, 4);
    assert.deepEqual(received[3], { status: 'running' });
  });

  it('does not retry a 4xx, and names the reason', async function () {
    answers = [404];
    await assert.rejects(client.post(url, {}, Date.now() + 5000), (err: unknown) => err instanceof WebhookError && err.reason === 'url_not_found' && err.message.includes('answered 404'));
    assert.equal(received.length, 1);
  });

  it('gives up when the deadline passes, with the last failure', async function () {
    answers = new Array<number>(1000).fill(503);
    await assert.rejects(client.post(url, {}, Date.now() + 100), (err: unknown) => err instanceof WebhookError && err.reason === 'external_error' && err.message.includes('time ran out'));
  });

  it('gives the last answer, not its own cut-short attempt, when the deadline ends a post still waiting', async function () {
    // 503, then an answer held past the deadline: the second attempt's wait is cut to what is left of the task's time.
    answers = [503, 503];
    late = [0, 5000];
    await assert.rejects(
      client.post(url, {}, Date.now() + 300),
      (err: unknown) => err instanceof WebhookError && err.reason === 'external_error' && err.message.includes('answered 503') && err.message.includes('time ran out'),
    );
  });

  it('sends a result again when ET recorded it but answered after the timeout: same index, same Idempotency-Key', async function () {
    const registry = new TaskRegistry({ client: new WebhookClient({ retry: { initialDelayMs: 5, maxDelayMs: 20, requestTimeoutMs: 100 } }) });
    const parsed = parseProcessFields({ resultWebhook: url, internalTaskId: 'task-7', maxTTL: '30' });
    const task = registry.open({ parsed, engineType: 'stream', respond: 'async' });
    late = [400];
    await task.result({ object: [] });
    task.fail({ reason: 'other', message: 'the test ended' });
    await registry.drain(1000);
    const results = received.filter((r) => (r as { index?: number }).index !== undefined) as { index: number }[];
    assert.deepEqual(
      results.map((r) => r.index),
      [1, 1],
      'delivered at least once: the late one and its retry',
    );
    assert.deepEqual(keys.slice(0, 2), ['task-7/result/1', 'task-7/result/1']);
  });

  it('reports a refused connection as url_connection_refused', async function () {
    const closed = http.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    await assert.rejects(client.post(`http://127.0.0.1:${port}/gone`, {}, Date.now() + 100), (err: unknown) => err instanceof WebhookError && err.reason === 'url_connection_refused');
  });
});
