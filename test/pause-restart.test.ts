// Waits survive the engine: the runner is killed with SIGKILL while 100 tasks wait for their
// reviewers, starts again on the same work folder and port, and every task resumes exactly once
// through the URL it handed out before the kill.
import * as assert from 'node:assert/strict';
import { ReviewRunners, post, reviewFlow, words } from './support/review';

const TASKS = 100;

describe('aiware-pause-for-callback across a kill -9 of the runner', function () {
  this.timeout(120_000);
  const stage = new ReviewRunners('aiware-pause-restart-');

  it('restores every waiting task with its webhooks, and each of the 100 resumes once', async function () {
    const { toolkit, service } = stage;
    const { nodes } = reviewFlow();
    // The folder stays when the first runner is killed: the second one starts on it.
    const start = () => stage.start(nodes);
    const first = start();
    const url = await first.ready();

    const items = Array.from({ length: TASKS }, () => toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url }), maxTTL: '600' }));
    const answers = await Promise.all(items.map((item, i) => toolkit.process(`${url}/process`, item, { data: `uh ${i}`, mimeType: 'text/plain' })));
    assert.deepEqual(
      answers.filter((a) => a.status !== 200),
      [],
    );
    await service.request(TASKS - 1, 30_000);
    const urls = new Map<string, string>();
    for (const request of service.requests) urls.set(String((request.words as { word: string }[])[1].word), String(request.callbackUrl));
    assert.equal(urls.size, TASKS);

    await first.kill();
    const killedAt = Date.now();
    const second = start();
    assert.equal(await second.ready(), url, 'the same address');
    await second.waitForLog((line) => String(line.msg).includes('waiting tasks restored from disk'), 10_000);

    // The restored tasks heartbeat again, to the webhooks they had.
    await toolkit.waitFor((rec) => rec.heartbeats.some((hb) => hb.at > killedAt && hb.status === 'running'), items[0].taskId, { timeoutMs: 10_000 });

    const results = await Promise.all(items.map((_item, i) => post(urls.get(String(i))!, { words: [{ word: `reviewed-${i}`, confidence: 1 }] })));
    assert.deepEqual(
      results.map((r) => r.status),
      items.map(() => 200),
    );
    const again = await Promise.all(items.slice(0, 10).map((_item, i) => post(urls.get(String(i))!, { words: [] })));
    assert.deepEqual(
      again.map((r) => r.status),
      again.map(() => 409),
    );

    // Duplicate calls are logged with the wait's id, never with the token.
    const duplicate = await second.waitForLog((line) => String(line.msg).includes('late or duplicate callback'), 5000);
    assert.match(String(duplicate.msg), /wait [0-9a-f-]{36}/);
    const log = first.output + second.output;
    for (const callbackUrl of urls.values()) assert.ok(!log.includes(callbackUrl.slice(callbackUrl.lastIndexOf('/') + 1)), 'a callback token is in the log');

    for (const [i, item] of items.entries()) {
      const record = await toolkit.waitForTask(item.taskId, { timeoutMs: 30_000 });
      assert.equal(record.status, 'complete', `task ${i}: ${record.failureMsg ?? ''}`);
      assert.equal(record.results.length, 1, `task ${i} has one result`);
      assert.deepEqual(words(record), [`reviewed-${i}`]);
      assert.equal(record.results[0].chunkContext, item.fields.chunkContext);
      assert.deepEqual(record.violations, []);
    }
  });
});
