// The runner's Node-RED log lines never carry the tokens of an open task, however many are open: the
// registry keeps the tokens indexed (SecretIndex) from the task's opening to its end, and a line is
// scrubbed in one pass. That the cost does not grow with the open tasks is shown by
// `npm run bench:soak` (its scrubbing table), not timed here.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { nodeRedLogging } from '@aiware-nodered/node-red-runner/dist/log';
import { TaskRegistry, parseProcessFields, type Task } from '../core';

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
