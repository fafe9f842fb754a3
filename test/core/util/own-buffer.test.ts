// A chunk's bytes in memory of its own (core/util/own-buffer.ts): never a slice of Node's shared
// pool, where a flow reading msg.payload.buffer would see other requests' bytes.
import * as assert from 'node:assert/strict';
import { joinParts, ownBufferFrom } from '../../../core/util/own-buffer';

const alone = (buffer: Buffer): boolean => buffer.byteOffset === 0 && buffer.buffer.byteLength === buffer.length;

describe('buffers of their own (core/util/own-buffer.ts)', function () {
  it('writes text as UTF-8 into an ArrayBuffer holding it alone, even a short one', function () {
    for (const text of ['', 'a', 'été ✓', 'x'.repeat(10_000)]) {
      const buffer = ownBufferFrom(text);
      assert.equal(buffer.toString('utf8'), text);
      assert.ok(alone(buffer), JSON.stringify(text.slice(0, 10)));
    }
  });

  it('joins small parts (cut from the pool) into memory of their own', function () {
    const parts = [Buffer.from('ab'), Buffer.from('cd')];
    assert.ok(parts[0].buffer.byteLength > 2, 'the parts are from the pool');
    const joined = joinParts(parts, 4);
    assert.equal(joined.toString(), 'abcd');
    assert.ok(alone(joined));
  });

  it('keeps one part too big for the pool as it is: no copy', function () {
    const big = Buffer.allocUnsafeSlow(Buffer.poolSize);
    assert.equal(joinParts([big], big.length), big);
  });

  it('copies one small part, which may be from the pool', function () {
    const small = Buffer.from('tiny');
    const joined = joinParts([small], small.length);
    assert.notEqual(joined, small);
    assert.ok(alone(joined));
    assert.equal(joined.toString(), 'tiny');
  });
});
