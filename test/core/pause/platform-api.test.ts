// The two aiWARE API calls of the platform mode (core/pause/platform-api.ts) against the toolkit
// emulator's GraphQL API on loopback: a wake-up JWT, the task marked paused, and each way the API
// can say no, with the failure reason a task would fail with.
import * as assert from 'node:assert/strict';
import { ToolkitEmulator } from '@aiware-nodered/aiware-sim';
import { getEngineJWT, graphqlUrl, ProtocolError, updateTaskStatus } from '../../../core';
import { serve } from '../../support/loopback';

describe('the aiWARE API calls (core/pause/platform-api.ts)', function () {
  let toolkit: ToolkitEmulator;

  before(async function () {
    toolkit = await ToolkitEmulator.start({ enforceMaxTTL: false });
  });

  after(async function () {
    await toolkit.stop();
  });

  const urls: [string, string][] = [
    ['https://api.veritone.com', 'https://api.veritone.com/v3/graphql'],
    ['https://api.veritone.com//', 'https://api.veritone.com/v3/graphql'],
    ['http://127.0.0.1:9/v3/graphql', 'http://127.0.0.1:9/v3/graphql'],
  ];
  for (const [base, url] of urls) {
    it(`calls ${url} for ${base}`, function () {
      assert.equal(graphqlUrl(base), url);
    });
  }

  /** A work item's API base, token and resource, as the task gets them. */
  function task() {
    const item = toolkit.workItem();
    const { jobId, taskId } = JSON.parse(item.fields.payload) as { jobId: string; taskId: string };
    return { item, base: item.fields.veritoneApiBaseUrl, token: item.fields.token, resource: { engineId: 'engine-1', jobId, taskId } };
  }

  it('gets a wake-up JWT for the task, and marks the task paused', async function () {
    const { item, base, token, resource } = task();
    const jwt = await getEngineJWT(base, token, resource);
    assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    await updateTaskStatus(base, token, resource.taskId, 'paused');
    assert.equal(toolkit.task(item.taskId).status, 'paused');
  });

  it('says api_authentication_error for a token aiWARE does not know', async function () {
    const { base, resource } = task();
    await assert.rejects(getEngineJWT(base, 'token-of-nobody', resource), (err: ProtocolError) => err.reason === 'api_authentication_error' && err.message.includes('answered 401'));
  });

  it("says api_error with aiWARE's own words for a task that is not the token's", async function () {
    const { base, token, resource } = task();
    await assert.rejects(
      getEngineJWT(base, token, { ...resource, taskId: 'someone-else' }),
      (err: ProtocolError) => err.reason === 'api_error' && err.message.includes('is not the task of this token'),
    );
  });

  const answers: [string, (res: import('node:http').ServerResponse) => void, string, RegExp][] = [
    ['a 404', (res) => res.writeHead(404).end(), 'api_not_found', /answered 404/],
    ['a 429', (res) => res.writeHead(429).end(), 'rate_limited', /answered 429/],
    ['a 200 with no data', (res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}'), 'api_error', /answered 200/],
    ['a JWT answer with no token', (res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"data":{"getEngineJWT":{"token":""}}}'), 'api_error', /without a token/],
  ];
  for (const [story, answer, reason, message] of answers) {
    it(`says ${reason} for ${story}`, async function () {
      const api = await serve((req, res) => {
        req.resume();
        req.on('end', () => answer(res));
      });
      try {
        await assert.rejects(getEngineJWT(api.url, 'token', { engineId: 'e', jobId: 'j', taskId: 't' }), (err: ProtocolError) => err.reason === reason && message.test(err.message));
      } finally {
        await api.close();
      }
    });
  }

  it('says api_error, naming the address, when aiWARE cannot be reached', async function () {
    const gone = await serve(() => undefined);
    await gone.close();
    await assert.rejects(
      updateTaskStatus(gone.url, 'token', 't', 'paused'),
      (err: ProtocolError) => err.reason === 'api_error' && err.message.startsWith(`the aiWARE API at ${gone.url}/v3/graphql could not be reached`),
    );
  });
});
