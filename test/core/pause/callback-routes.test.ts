// The local mode's callback URLs (core/pause/callback-routes.ts) over real HTTP: what each call is
// answered, and which leave the wait open. Tokens are signed with the service's own secret (kept in
// its state folder) to play an expired one and one for a wait that never was.
import * as assert from 'node:assert/strict';
import { CallbackSigner, saveMessage } from '../../../core';
import { call, RecordingNode, startPause, type PauseHarness } from '../../support/pause';

describe('the callback URLs (core/pause/callback-routes.ts)', function () {
  let h: PauseHarness;
  let node: RecordingNode;
  let paused: Awaited<ReturnType<PauseHarness['service']['pauseLocal']>>;

  beforeEach(async function () {
    h = await startPause({ maxBodyBytes: 100 });
    node = new RecordingNode();
    await h.service.register(node);
    paused = await h.service.pauseLocal(h.openTask({ maxTTL: '3600' }), node, { baseUrl: h.base, timeoutSeconds: 600, message: saveMessage({ payload: 1 }), files: [] });
  });

  afterEach(async function () {
    await h.stop();
  });

  /** A URL for `claims`, signed as the service signs, expiring at `expiresAt`. */
  async function signed(claims: object, expiresAt = Date.now() + 60_000): Promise<string> {
    const signer = await CallbackSigner.open(h.stateDir);
    return `${h.base}/aiware/callback/${signer.sign(claims, expiresAt)}`;
  }

  const base = () => paused.callbackUrl;
  /** [story, the call, its status, what its error says]: after each, the wait is still open. */
  const calls: [string, () => Promise<{ status: number; json: Record<string, unknown> }>, number, RegExp | undefined][] = [
    ['a GET, which only shows the wait', () => call(base(), undefined, {}, 'GET'), 200, undefined],
    ['a progress report, which sets the infoMsg and resumes nothing', () => call(`${base()}/progress`, { progress: 'half way' }), 200, undefined],
    ['an action that is not one', () => call(`${base()}/approve`, {}), 404, /^no callback action "approve"/],
    ['a PUT', () => call(base(), {}, { 'Content-Type': 'application/json' }, 'PUT'), 405, /takes POST/],
    ['a forged token', () => call(base().replace(/\.[^.]+$/, '.forged'), {}), 401, /^callback refused: the token is not one this engine signed/],
    ['an expired token', async () => call(await signed({ w: paused.waitId, n: node.id }, Date.now() - 5000), {}), 410, /^callback refused: the token expired at /],
    ['a token for a wait that never was', async () => call(await signed({ w: '00000000-0000-0000-0000-000000000000', n: node.id }), {}), 404, /^no such wait$/],
    ['a body declared JSON that is not', () => call(base(), '{"approved":', { 'Content-Type': 'application/json' }), 400, /declared JSON and is not.*the wait stays open$/],
    ['a body past maxBodyBytes', () => call(base(), { text: 'x'.repeat(200) }), 413, /^a callback body may be at most 100 bytes: the wait stays open$/],
  ];
  for (const [story, make, status, error] of calls) {
    it(`answers ${story} with ${status}, and the wait stays open`, async function () {
      const answer = await make();
      assert.equal(answer.status, status, JSON.stringify(answer.json));
      if (error) assert.match(String(answer.json.error), error);
      assert.equal(node.resumed.length, 0);
      assert.equal((await call(base(), { approved: true })).status, 200, 'a good call still resumes it');
      assert.equal(node.resumed.length, 1);
    });
  }

  it('shows the progress a report set, and a text body as text', async function () {
    await call(`${base()}/progress`, 'reviewer opened it', { 'Content-Type': 'text/plain' });
    const shown = await call(base(), undefined, {}, 'GET');
    assert.deepEqual([shown.json.state, shown.json.infoMsg], ['waiting', 'reviewer opened it']);
    await call(base(), 'plain words', { 'Content-Type': 'text/plain' });
    assert.equal(node.resumed[0].callback, 'plain words');
    assert.deepEqual((await call(base(), undefined, {}, 'GET')).json.state, 'resumed');
  });
});
