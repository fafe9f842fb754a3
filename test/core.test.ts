// The protocol core on its own: the /process field parser and the webhook client.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { parseProcessFields, redactFields, PROCESS_FIELDS, FieldError, WebhookClient, WebhookError, TaskRegistry } from '../core';

/** The fields ET sent: every key is present on the parsed object, undefined when absent. */
function defined(fields: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

describe('the /process field parser', function () {
  it('types every field ET sends, from strings', function () {
    const { fields, chunkMetadata, extra } = parseProcessFields({
      chunkMimeType: 'audio/wav',
      startOffsetMS: '1000',
      endOffsetMS: '2000',
      chunkIndex: '3',
      chunkTimestamp: '1700000000000',
      width: '640',
      height: '480',
      maxTTL: '60',
      payload: '{"mode":"library-run","n":1}',
      chunkContext: 'ctx',
      'chunk-metadata-x-aiware-chunk-timestamp': '17',
      'Chunk-Metadata-Source': 'push',
      somethingNew: 'kept',
    });
    assert.deepEqual(defined(fields), {
      chunkMimeType: 'audio/wav',
      startOffsetMS: 1000,
      endOffsetMS: 2000,
      chunkIndex: 3,
      chunkTimestamp: 1700000000000,
      width: 640,
      height: 480,
      maxTTL: 60,
      payload: { mode: 'library-run', n: 1 },
      chunkContext: 'ctx',
    });
    assert.deepEqual(chunkMetadata, { 'x-aiware-chunk-timestamp': '17', Source: 'push' });
    assert.deepEqual(extra, { somethingNew: 'kept' });
  });

  it('accepts the lower-case spellings and treats empty strings as absent', function () {
    const { fields } = parseProcessFields({ startOffsetMs: '5', endoffsetms: '6', cacheUri: 'http://x', width: '' });
    assert.deepEqual(defined(fields), { startOffsetMS: 5, endOffsetMS: 6, cacheURI: 'http://x' });
  });

  it('keeps a non-numeric chunkTimestamp as the string sent', function () {
    assert.equal(parseProcessFields({ chunkTimestamp: '2026-11-28T00:00:00Z' }).fields.chunkTimestamp, '2026-11-28T00:00:00Z');
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['payload', { payload: '{"a":' }, /payload is not JSON/],
    ['payload', { payload: '[1,2]' }, /payload must be a JSON object/],
    ['startOffsetMS', { startOffsetMS: '1.5' }, /startOffsetMS must be an integer, got "1.5"/],
    ['endOffsetMS', { endOffsetMs: 'abc' }, /endOffsetMS must be an integer/],
    ['width', { width: '99999999999999999999' }, /width must be an integer/],
    ['maxTTL', { maxTTL: '0' }, /maxTTL must be a positive number of seconds/],
  ];
  for (const [field, raw, message] of bad) {
    it(`refuses ${JSON.stringify(raw)} with a 400 naming ${field}`, function () {
      assert.throws(
        () => parseProcessFields(raw),
        (err: unknown) => err instanceof FieldError && err.status === 400 && err.field === field && message.test(err.message),
      );
    });
  }

  it('masks the tokens for logs', function () {
    assert.deepEqual(redactFields({ token: 'secret', controllerToken: 'secret2', chunkContext: 'c' }), {
      token: '[redacted]',
      controllerToken: '[redacted]',
      chunkContext: 'c',
    });
  });

  it('knows every field of SPEC §3, and gives each parse every key', function () {
    assert.equal(Object.keys(PROCESS_FIELDS).length, 27);
    assert.deepEqual(Object.keys(parseProcessFields({}).fields), Object.keys(PROCESS_FIELDS));
  });
});

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
