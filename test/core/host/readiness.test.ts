// Readiness as Engine Toolkit reads it (core/host/readiness.ts), over a real socket: /readyz 200
// only when work can be taken, 500 when start-up failed for good, 503 otherwise; /process refused
// with the same words, never with a 4xx, and the connection closed behind its unread body.
import * as assert from 'node:assert/strict';
import { answerReady, refuseWork, type EngineState } from '../../../core';
import { request, serve } from '../../support/loopback';

describe('readiness (core/host/readiness.ts)', function () {
  const states: [EngineState, number, unknown, number | undefined, unknown][] = [
    ['ready', 200, { ready: true }, undefined, undefined],
    ['starting', 503, { ready: false, state: 'starting', error: 'the engine is starting: its flows are not running yet' }, 503, { error: 'the engine is starting: its flows are not running yet' }],
    ['failed', 500, { ready: false, error: 'flows.json is not JSON' }, 500, { error: 'the engine failed to start: flows.json is not JSON' }],
    [
      'draining',
      503,
      { ready: false, state: 'draining', error: 'the engine is shutting down: send this work item to another instance' },
      503,
      { error: 'the engine is shutting down: send this work item to another instance' },
    ],
    [
      'stopped',
      503,
      { ready: false, state: 'stopped', error: 'the engine is shutting down: send this work item to another instance' },
      503,
      { error: 'the engine is shutting down: send this work item to another instance' },
    ],
  ];
  for (const [state, readyStatus, readyBody, workStatus, workBody] of states) {
    it(`answers /readyz ${readyStatus} and ${workStatus === undefined ? 'takes /process' : `/process ${workStatus}`} when ${state}`, async function () {
      const server = await serve((req, res) => {
        if (req.url === '/readyz') return answerReady(res, state, 'flows.json is not JSON');
        if (!refuseWork(res, state, 'flows.json is not JSON')) res.end('"taken"');
      });
      try {
        const ready = await request(`${server.url}/readyz`, { method: 'GET' });
        assert.deepEqual([ready.status, JSON.parse(ready.text)], [readyStatus, readyBody]);
        const work = await request(`${server.url}/process`, { headers: { 'Content-Length': 100 }, write: (req) => (req.on('error', () => undefined), req.write('x')) });
        if (workStatus === undefined) {
          assert.equal(work.text, '"taken"');
        } else {
          assert.deepEqual([work.status, JSON.parse(work.text)], [workStatus, workBody]);
          assert.equal(work.headers.connection, 'close');
        }
      } finally {
        await server.close();
      }
    });
  }

  it('says start-up failed when it is not told why', async function () {
    const server = await serve((_req, res) => answerReady(res, 'failed'));
    try {
      assert.equal((await request(server.url, { method: 'GET' })).text, '{"ready":false,"error":"start-up failed"}');
    } finally {
      await server.close();
    }
  });
});
