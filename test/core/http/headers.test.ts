// Request headers as the body readers need them (core/http/headers.ts): the media type, and the
// declared length of a real request with and without one.
import * as assert from 'node:assert/strict';
import { contentLength, mediaType } from '../../../core/http/headers';
import { request, serve } from '../../support/loopback';

describe('request headers (core/http/headers.ts)', function () {
  const types: [string | undefined, string][] = [
    ['multipart/form-data; boundary=x', 'multipart/form-data'],
    [' Application/JSON ', 'application/json'],
    ['text/plain;charset=utf-8', 'text/plain'],
    ['', ''],
    [undefined, ''],
  ];
  for (const [header, type] of types) {
    it(`reads the media type ${JSON.stringify(type)} from ${JSON.stringify(header)}`, function () {
      assert.equal(mediaType(header), type);
    });
  }

  it('reads the declared length of a request, and -1 for a chunked one', async function () {
    const seen: number[] = [];
    const server = await serve((req, res) => {
      seen.push(contentLength(req));
      req.resume();
      req.on('end', () => res.end());
    });
    try {
      await request(server.url, { body: 'twelve bytes' });
      await request(server.url, { write: (req) => (req.write('in '), req.end('pieces')) });
      await request(server.url, { method: 'GET' });
      assert.deepEqual(seen, [12, -1, -1]);
    } finally {
      await server.close();
    }
  });
});
