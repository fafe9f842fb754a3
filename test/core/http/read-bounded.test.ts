// A whole body of bounded size (core/http/read-bounded.ts) over a real socket: read up to its
// limit, refused past it (at once, or after draining so the connection carries the answer), and a
// client that goes before the end.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { ProtocolError, readBounded, sendJson, type BoundedRead } from '../../../core';
import { request, serve, type Loopback } from '../../support/loopback';
import { Conditions } from '../../support/conditions';

describe('bounded reads (core/http/read-bounded.ts)', function () {
  let server: Loopback;
  let outcomes: (Buffer | ProtocolError)[];
  let options: BoundedRead;
  let listenersLeft: number[];
  /** The client port of each request: the same for two requests on one connection. */
  let ports: number[];
  const changes = new Conditions();

  before(async function () {
    server = await serve((req, res) => {
      ports.push(req.socket.remotePort!);
      changes.check();
      const before = req.listenerCount('data') + req.listenerCount('end');
      readBounded(req, 10, options).then(
        (body) => {
          outcomes.push(body);
          sendJson(res, 200, body.toString());
        },
        (err: ProtocolError) => {
          outcomes.push(err);
          listenersLeft.push(req.listenerCount('data') + req.listenerCount('end') - before);
          changes.check();
          sendJson(res, err.status, err.toJSON(), { close: !req.complete });
        },
      );
    });
  });

  after(async function () {
    await server.close();
  });

  beforeEach(function () {
    outcomes = [];
    options = {};
    listenersLeft = [];
    ports = [];
  });

  it('reads a body of exactly the limit, in pieces or whole', async function () {
    assert.equal((await request(server.url, { body: '0123456789' })).text, '"0123456789"');
    assert.equal((await request(server.url, { write: (req) => (req.write('01234'), req.end('56789')) })).text, '"0123456789"');
    assert.equal((await request(server.url, { method: 'GET' })).text, '""');
  });

  it('refuses a byte more with 413, and leaves no listener on the request', async function () {
    const reply = await request(server.url, { body: '0123456789A' });
    assert.equal(reply.status, 413);
    assert.equal(reply.text, '{"error":"request body is larger than 10 bytes"}');
    assert.deepEqual(listenersLeft, [0]);
  });

  it('refuses with its own 413 when given one', async function () {
    options = { tooLarge: () => new ProtocolError(413, 'a callback body is at most 10 bytes') };
    assert.equal((await request(server.url, { body: 'x'.repeat(100) })).text, '{"error":"a callback body is at most 10 bytes"}');
  });

  it('drains the rest before refusing when asked, so the same connection carries the next request', async function () {
    options = { drain: true };
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const refused = await request(server.url, { agent, body: 'x'.repeat(100_000) });
      assert.equal(refused.status, 413);
      assert.notEqual(refused.headers.connection, 'close');
      assert.equal((await request(server.url, { agent, body: 'ok' })).text, '"ok"');
      assert.equal(ports.length, 2);
      assert.equal(ports[0], ports[1], 'one connection for both');
    } finally {
      agent.destroy();
    }
  });

  it('rejects with a stream_read_error 400 when the client goes before the end of the body', async function () {
    const req = http.request(server.url, { method: 'POST', agent: false, headers: { 'Content-Length': 8 } });
    req.on('error', () => undefined);
    req.write('half');
    await changes.when(() => ports.length === 1);
    req.destroy();
    await changes.when(() => outcomes.length === 1);
    const err = outcomes[0] as ProtocolError;
    assert.equal(err.status, 400);
    assert.equal(err.reason, 'stream_read_error');
  });
});
