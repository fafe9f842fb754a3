// The runner's Node-RED log lines never carry the tokens of an open task, however many are open: the
// registry keeps the tokens indexed (SecretIndex) from the task's opening to its end, and a line is
// scrubbed in one pass. That the cost does not grow with the open tasks is shown by
// `npm run bench:soak` (its scrubbing table), not timed here.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { nodeRedLogging } from '@aiware-nodered/node-red-runner/dist/log';
import { SecretIndex, TaskRegistry, parseProcessFields, type Task } from '../core';

/** A JWT's shape: every token shares its head, only the tail tells them apart. */
function jwtLike(): string {
  return `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${randomBytes(60).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
}

/** The handler Node-RED calls for each of its log entries, writing JSON lines into `lines`. */
function nodeRedLog(scrub: (text: string) => string, lines: Record<string, unknown>[]): (entry: { level: number; msg: unknown; id?: string; type?: string }) => void {
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level: 'info' }, out);
  const settings = nodeRedLogging(log, scrub) as { runner: { handler: () => (entry: { level: number; msg: unknown }) => void } };
  return settings.runner.handler();
}

describe("the runner's Node-RED log lines", function () {
  let registry: TaskRegistry;
  let tasks: Task[];

  beforeEach(function () {
    registry = new TaskRegistry({ settings: { heartbeatIntervalMs: 1000, defaultTTLSeconds: 60 } });
    tasks = [];
  });

  afterEach(function () {
    // Ends what is still open: each task's maxTTL timer goes with it.
    for (const task of tasks) task.complete();
  });

  /** A synchronous chunk task (it never posts) holding `token` and `controllerToken`. */
  function open(token: string, controllerToken: string): Task {
    const parsed = parseProcessFields({ heartbeatWebhook: 'http://127.0.0.1:9/heartbeat', resultWebhook: 'http://127.0.0.1:9/result', maxTTL: '60', token, controllerToken });
    const task = registry.open({ parsed, engineType: 'chunk', respond: 'sync', reply: () => undefined });
    tasks.push(task);
    return task;
  }

  it('leave out the tokens of one of 1000 open tasks that a debug node printed, until the task ends', function () {
    for (let i = 0; i < 1000; i++) open(jwtLike(), `ctl-${randomBytes(16).toString('hex')}`);
    const lines: Record<string, unknown>[] = [];
    const handler = nodeRedLog((text) => registry.secrets.scrub(text), lines);
    const shown = tasks[637];
    const token = shown.fields.token!;
    const controllerToken = shown.fields.controllerToken!;
    // How a debug node prints msg.aiware, and a URL a function node logged.
    handler({ level: 40, id: 'debug-1', type: 'debug', msg: { aiware: { taskId: shown.id, token, controllerToken } } });
    handler({ level: 30, id: 'fn-1', type: 'function', msg: `calling https://api.example/v3/graphql?token=${token}&next=1` });
    assert.equal(lines.length, 2);
    const text = JSON.stringify(lines);
    assert.ok(!text.includes(token) && !text.includes(controllerToken), text);
    assert.match(String(lines[0].msg), /"token":"\[redacted\]","controllerToken":"\[redacted\]"/);
    assert.equal(lines[1].msg, 'calling https://api.example/v3/graphql?token=[redacted]&next=1');
    assert.equal(registry.secrets.size, 2000);

    // Once the task has ended its tokens are no one's: the index forgets them.
    shown.complete();
    handler({ level: 40, id: 'debug-1', type: 'debug', msg: `later: ${token}` });
    assert.equal(lines[2].msg, `later: ${token}`);
    assert.equal(registry.secrets.size, 1998);
  });

  it('keep a token two open tasks share scrubbed until both have ended', function () {
    const shared = jwtLike();
    const first = open(shared, 'ctl-first-0001');
    const second = open(shared, 'ctl-second-0002');
    first.complete();
    assert.equal(registry.secrets.scrub(`a ${shared} b`), 'a [redacted] b');
    second.complete();
    assert.equal(registry.secrets.scrub(`a ${shared} b`), `a ${shared} b`);
    assert.equal(registry.secrets.size, 0);
  });
});

describe('a SecretIndex', function () {
  const cases: { name: string; secrets: string[]; text: string; scrubbed: string }[] = [
    { name: 'a secret that is the whole text', secrets: ['tok-LEAK-1234'], text: 'tok-LEAK-1234', scrubbed: '[redacted]' },
    {
      name: 'at the start, in the middle and at the end',
      secrets: ['abcdefghijklmnopqrstuvwxyz'],
      text: 'abcdefghijklmnopqrstuvwxyz x abcdefghijklmnopqrstuvwxyz.abcdefghijklmnopqrstuvwxyz',
      scrubbed: '[redacted] x [redacted].[redacted]',
    },
    {
      name: 'every length from the shortest kept (4)',
      secrets: ['wxyz', 'vwxyz', 'uvwxyz', 'tuvwxyz', 'k1k2k3k4k5k6k7k'],
      text: '.wxyz.. vwxyz uvwxyz-tuvwxyz k1k2k3k4k5k6k7k!',
      scrubbed: '.[redacted].. [redacted] [redacted]-[redacted] [redacted]!',
    },
    {
      name: 'each offset of a secret against the windows',
      secrets: ['0123456789abcdefXYZ'],
      text: 'a0123456789abcdefXYZ bb0123456789abcdefXYZ ccc0123456789abcdefXYZ',
      scrubbed: 'a[redacted] bb[redacted] ccc[redacted]',
    },
    { name: 'overlapping secrets, as one', secrets: ['secret-one-AAAA', 'AAAA-secret-two'], text: 'x secret-one-AAAA-secret-two y', scrubbed: 'x [redacted] y' },
    { name: 'one secret inside another', secrets: ['outer-secret-with-inner-part', 'inner-part'], text: '[outer-secret-with-inner-part] [inner-part]', scrubbed: '[[redacted]] [[redacted]]' },
    { name: 'nothing shorter than 4 characters', secrets: ['abc'], text: 'abc abcd', scrubbed: 'abc abcd' },
    { name: 'a near miss left alone', secrets: ['tok-LEAK-1234'], text: 'tok-LEAK-123 tok-LEAK-12345x', scrubbed: 'tok-LEAK-123 [redacted]5x' },
  ];
  for (const c of cases) {
    it(`scrubs ${c.name}`, function () {
      const index = new SecretIndex();
      for (const secret of c.secrets) index.add(secret);
      assert.equal(index.scrub(c.text), c.scrubbed);
    });
  }

  /** Every occurrence of `secret` in `text`, found one by one, overlapping ones redacted as one. */
  function scanned(text: string, secret: string): string {
    let out = '';
    let done = 0;
    for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1)) {
      if (at >= done) out += text.slice(done, at) + '[redacted]';
      done = at + secret.length;
    }
    return out + text.slice(done);
  }

  it('scrubs what a scan of the text finds, for random texts and secrets', function () {
    const alphabet = 'ab-';
    const pick = (n: number): string => Array.from({ length: n }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
    for (let round = 0; round < 300; round++) {
      const index = new SecretIndex();
      const secret = pick(4 + Math.floor(Math.random() * 20));
      index.add(secret);
      const text = pick(Math.floor(Math.random() * 60)) + (Math.random() < 0.7 ? secret : '') + pick(Math.floor(Math.random() * 60));
      assert.equal(index.scrub(text), scanned(text, secret), `${JSON.stringify(secret)} in ${JSON.stringify(text)}`);
    }
  });
});
