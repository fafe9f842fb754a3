// Exactly once across a crash: 40 tasks wait for their reviewers, the reviewers call back for 20 of
// them at once, and the runner is killed with SIGKILL at one moment of that storm (as the callbacks
// are sent, on the first answer, while the resumed flows run). It starts again on the same folder
// and port, every callback is sent again twice, and every task ends once, complete, with its one
// result: a callback that was answered is never lost, one that was not answered is taken again.
import * as assert from 'node:assert/strict';
import { ReviewRunners, post, reviewFlow, words } from './support/review';

const TASKS = 40;
const CALLED = 20;

type Moment = 'as the callbacks are sent' | 'on the first answer' | 'while the resumed flows run';

/** The review flow, with a delay between the callback and the result when the flows must be caught running. */
function flow(slow: boolean): Record<string, unknown>[] {
  const { nodes } = reviewFlow();
  if (!slow) return nodes;
  const apply = nodes.find((node) => node.id === 'apply')!;
  apply.wires = [['slow']];
  const delay = {
    id: 'slow',
    type: 'delay',
    pauseType: 'delay',
    timeout: '3',
    timeoutUnits: 'seconds',
    rate: '1',
    nbRateUnits: '1',
    rateUnits: 'second',
    randomFirst: '1',
    randomLast: '5',
    randomUnits: 'seconds',
    drop: false,
    wires: [['vtn']],
  };
  return [...nodes, delay];
}

describe('aiware-pause-for-callback when the runner is killed while callbacks arrive', function () {
  this.timeout(180_000);
  const stage = new ReviewRunners('aiware-pause-crash-');
  let round = 0;

  for (const moment of ['as the callbacks are sent', 'on the first answer', 'while the resumed flows run'] as Moment[]) {
    it(`ends every task once, complete, with its result, when killed ${moment}`, async function () {
      const { toolkit, service } = stage;
      const nodes = flow(moment === 'while the resumed flows run');
      const first = stage.start(nodes);
      const url = await first.ready();
      const tag = `r${++round}`;
      const seen = service.requests.length;

      const items = Array.from({ length: TASKS }, () => toolkit.workItem({ payload: JSON.stringify({ callbackServiceUrl: service.url }), maxTTL: '600' }));
      const answers = await Promise.all(items.map((item, i) => toolkit.process(`${url}/process`, item, { data: `uh ${tag}-${i}`, mimeType: 'text/plain' })));
      assert.deepEqual(
        answers.filter((a) => a.status !== 200),
        [],
      );
      await service.request(seen + TASKS - 1, 30_000);
      const urls = new Map<string, string>();
      for (const request of service.requests.slice(seen)) {
        const word = String((request.words as { word: string }[])[1].word);
        urls.set(word.slice(word.indexOf('-') + 1), String(request.callbackUrl));
      }
      assert.equal(urls.size, TASKS);
      const callbackOf = (i: number): string => urls.get(String(i))!;
      const answerOf = (i: number) => ({ words: [{ word: `reviewed-${tag}-${i}`, confidence: 1 }] });

      // The storm: 20 callbacks at once; the runner dies at the chosen moment.
      const storm = Array.from({ length: CALLED }, (_unused, i) =>
        post(callbackOf(i), answerOf(i)).then(
          (r) => r.status,
          () => 0, // reset by the kill: no answer
        ),
      );
      if (moment === 'on the first answer') await Promise.race(storm);
      if (moment === 'while the resumed flows run') {
        assert.deepEqual(
          await Promise.all(storm),
          storm.map(() => 200),
        );
        // Each resumed flow is in its 3 s delay: nothing of it has reached the toolkit yet.
        assert.ok(items.slice(0, CALLED).every((item) => toolkit.task(item.taskId).results.length === 0));
      }
      await first.kill();
      const statuses = await Promise.all(storm);
      assert.ok(
        statuses.every((status) => status === 0 || status === 200),
        `answers before the kill: ${statuses.join(',')}`,
      );

      const second = stage.start(nodes);
      assert.equal(await second.ready(), url, 'the same address');
      // The service sends each of its callbacks again, twice: whichever the crash left unanswered is taken now.
      for (let time = 0; time < 2; time++) {
        const again = await Promise.all(Array.from({ length: CALLED }, (_unused, i) => post(callbackOf(i), answerOf(i))));
        for (const [i, r] of again.entries()) assert.ok(r.status === 200 || r.status === 409, `callback ${i} again: ${r.status} ${JSON.stringify(r.body)}`);
      }
      // The other 20 were waiting all along: they come back and resume now.
      const rest = await Promise.all(Array.from({ length: TASKS - CALLED }, (_unused, k) => post(callbackOf(CALLED + k), answerOf(CALLED + k))));
      assert.deepEqual(
        rest.map((r) => r.status),
        rest.map(() => 200),
      );

      for (const [i, item] of items.entries()) {
        const record = await toolkit.waitForTask(item.taskId, { timeoutMs: 30_000 });
        assert.equal(record.status, 'complete', `task ${i}: ${record.failureReason ?? ''} ${record.failureMsg ?? ''}`);
        assert.equal(record.results.length, 1, `task ${i} has one result`);
        assert.deepEqual(words(record), [`reviewed-${tag}-${i}`]);
        assert.deepEqual(record.violations, [], `task ${i}`);
      }
      await second.kill();
    });
  }
});
