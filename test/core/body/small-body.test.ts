// JSON and urlencoded /process bodies (core/body/small-body.ts): fields as strings, the chunk as
// UTF-8 bytes of its own, and the bodies refused.
import * as assert from 'node:assert/strict';
import { ProtocolError, resolveLimits } from '../../../core';
import { JSON_TYPE, URLENCODED } from '../../../core/body/limits';
import { fromSmallBody } from '../../../core/body/small-body';

const LIMITS = resolveLimits({ maxFieldBytes: 16, maxFields: 3 });

describe('small bodies (core/body/small-body.ts)', function () {
  it('reads a JSON object: strings as they are, other values as JSON, null as absent, the chunk as bytes', function () {
    const body = Buffer.from(JSON.stringify({ chunkContext: 'ctx', maxTTL: 60, payload: { a: 1 }, gone: null, chunk: 'été' }));
    const read = fromSmallBody(JSON_TYPE, body, LIMITS);
    assert.deepEqual(read.raw, { chunkContext: 'ctx', maxTTL: '60', payload: '{"a":1}' });
    assert.deepEqual(read.chunk, { buffer: Buffer.from('été'), size: 5 });
    assert.equal(read.chunk.buffer.buffer.byteLength, 5, 'in memory of its own');
    assert.equal(read.bytesRead, body.length);
  });

  it('reads a urlencoded body, the last of a repeated name, and no chunk when there is none', function () {
    const read = fromSmallBody(URLENCODED, Buffer.from('a=1&b=%C3%A9+x&a=2'), LIMITS);
    assert.deepEqual(read, { raw: { a: '2', b: 'é x' }, bytesRead: 18 });
  });

  const refused: [string, string, string, number, RegExp][] = [
    ['JSON that is not JSON', JSON_TYPE, '{"a":', 400, /^application\/json body is not JSON: /],
    ['JSON that is not an object', JSON_TYPE, '[1,2]', 400, /^application\/json body must be a JSON object of fields$/],
    ['JSON null', JSON_TYPE, 'null', 400, /must be a JSON object/],
    ['a field past maxFieldBytes (UTF-8 bytes, not characters)', URLENCODED, `a=${encodeURIComponent('é'.repeat(9))}`, 413, /^field "a" is larger than 16 bytes$/],
    ['more fields than maxFields', URLENCODED, 'a=1&b=2&c=3&d=4', 413, /^request has more than 3 fields$/],
  ];
  for (const [story, type, text, status, message] of refused) {
    it(`refuses ${story} with ${status}`, function () {
      assert.throws(
        () => fromSmallBody(type, Buffer.from(text), LIMITS),
        (err: unknown) => err instanceof ProtocolError && err.status === status && message.test(err.message),
      );
    });
  }

  it('does not count the chunk as a field, nor quote a token of a bad JSON body back', function () {
    assert.deepEqual(Object.keys(fromSmallBody(URLENCODED, Buffer.from('a=1&b=2&c=3&chunk=x'), LIMITS).raw), ['a', 'b', 'c']);
    assert.throws(
      () => fromSmallBody(JSON_TYPE, Buffer.from('{"token":"secret-abc'), LIMITS),
      (err: Error) => !err.message.includes('secret'),
    );
  });
});
