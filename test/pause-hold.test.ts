// A callback that comes while the engine starts is held until its wait is back: 10 000 saved waits
// (one made by a real pause, the rest copies of it with ids of their own, saved before it so it
// comes back last), the runner started on them, and the callback sent the moment the runner says
// it listens: answered 200 and resumed, never 503.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { WaitRecord } from '../core';
import { ReviewRunners, post, reviewFlow, words } from './support/review';

const SAVED = 10_000;

/** The one `*.wait.json` under `dir`. */
function waitFileIn(dir: string): string {
  const found = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((name) => name.endsWith('.wait.json'));
  assert.equal(found.length, 1, `wait files: ${found.join(', ')}`);
  return path.join(dir, found[0]);
}

describe('aiware-pause-for-callback while the runner starts on 10 000 saved waits', function () {
  this.timeout(180_000);
  const stage = new ReviewRunners('aiware-pause-hold-');

  it('holds a callback sent the moment it listens until its wait is back, then resumes it (200, not 503)', async function () {
    const { toolkit, service } = stage;
    const { nodes } = reviewFlow();
    const first = stage.start(nodes);
    const url = await first.ready();
    const item = toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url }), maxTTL: '3600' });
    assert.equal((await toolkit.process(`${url}/process`, item, { data: 'uh hold', mimeType: 'text/plain' })).status, 200);
    const callbackUrl = String((await service.request(0, 30_000)).callbackUrl);
    await first.kill();

    // Copies of the real wait, each a task of its own at the toolkit, all older than it.
    const file = waitFileIn(stage.folder);
    const real = JSON.parse(fs.readFileSync(file, 'utf8')) as WaitRecord;
    const text = JSON.stringify(real);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < SAVED - 1; i++) {
      const taskId = randomUUID();
      const copy = JSON.parse(text.split(item.taskId).join(taskId)) as WaitRecord;
      copy.id = randomUUID();
      copy.task.id = randomUUID();
      copy.createdAt = real.createdAt - SAVED + i;
      writes.push(fs.promises.writeFile(path.join(path.dirname(file), `${copy.id}.wait.json`), JSON.stringify(copy)));
    }
    await Promise.all(writes);

    const second = stage.start(nodes);
    await second.waitForLog((line) => line.msg === 'listening', 60_000);
    const answer = await post(callbackUrl, { words: [{ word: 'held', confidence: 1 }] });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    await second.waitForLog((line) => String(line.msg).includes(`${SAVED} waiting tasks restored from disk`), 60_000);

    const record = await toolkit.waitForTask(item.taskId, { timeoutMs: 30_000 });
    assert.equal(record.status, 'complete', `${record.failureReason ?? ''} ${record.failureMsg ?? ''}`);
    assert.deepEqual(words(record), ['held']);
    assert.deepEqual(record.violations, []);
    await second.kill();
  });
});
