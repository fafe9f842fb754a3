// JSON answers (core/http/answer.ts) over a real socket: what sendJson writes, and how sendJsonError
// answers a request whose body it read whole (the connection kept) or left unread (closed).
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { once } from 'node:events';
import { ProtocolError, sendJson, sendJsonError } from '../../../core';
import { request, serve } from '../../support/loopback';

describe('JSON answers (core/http/answer.ts)', function () {
  const answers: [string, (res: http.ServerResponse) => void, number, Record<string, string | undefined>, string][] = [
    ['a body as JSON, with its length', (res) => sendJson(res, 200, { é: 1 }), 200, { 'content-type': 'application/json; charset=utf-8', 'content-length': '8' }, '{"é":1}'],
    ['a 204 with no body, whatever it was given', (res) => sendJson(res, 204, { ignored: true }), 204, { 'content-type': undefined }, ''],
    ['no body when there is none', (res) => sendJson(res, 202, undefined), 202, { 'content-type': undefined }, ''],
    ['Connection: close when asked', (res) => sendJson(res, 503, { error: 'starting' }, { close: true }), 503, { connection: 'close' }, '{"error":"starting"}'],
    ['the first answer only', (res) => (sendJson(res, 200, 'first'), sendJson(res, 500, 'second')), 200, {}, '"first"'],
  ];
  for (const [story, answer, status, headers, text] of answers) {
    it(`sends ${story}`, async function () {
      const server = await serve((req, res) => {
        req.resume();
        req.on('end', () => answer(res));
      });
      try {
        const reply = await request(server.url, { method: 'GET' });
        assert.equal(reply.status, status);
        for (const [name, value] of Object.entries(headers)) assert.equal(reply.headers[name], value, name);
        assert.equal(reply.text, text);
      } finally {
        await server.close();
      }
    });
  }

  it('answers an error after the whole body with its status and JSON, and keeps the connection', async function () {
    const server = await serve((req, res) => {
      req.resume();
      req.on('end', () => sendJsonError(res, new ProtocolError(400, 'bad field', { field: 'maxTTL' })));
    });
    try {
      const reply = await request(server.url, { body: 'x=1', agent: new http.Agent({ keepAlive: true }) });
      assert.equal(reply.status, 400);
      assert.equal(reply.text, '{"error":"bad field","field":"maxTTL"}');
      assert.notEqual(reply.headers.connection, 'close');
    } finally {
      await server.close();
    }
  });

  it('answers an error before the body is read with Connection: close, and ends the socket', async function () {
    let closed!: Promise<unknown>;
    const server = await serve((req, res) => {
      closed = once(req.socket, 'close');
      sendJsonError(res, new ProtocolError(413, 'request body is larger than 10 bytes'));
    });
    try {
      const reply = await request(server.url, {
        headers: { 'Content-Length': 1_000_000 },
        write: (req) => {
          req.on('error', () => undefined); // the server hangs up on the rest of the body
          req.write(Buffer.alloc(1000));
        },
      });
      assert.equal(reply.status, 413);
      assert.equal(reply.headers.connection, 'close');
      assert.equal(reply.text, '{"error":"request body is larger than 10 bytes"}');
      await closed;
    } finally {
      await server.close();
    }
  });
});
