// The saved-message codec (core/pause/saved-message.ts): a flow's message kept as plain JSON while
// the task waits for its callback, and given back as the flow had it: Buffers as Buffers, live
// handles left out, and what JSON cannot hold refused with the property's name.
import * as assert from 'node:assert/strict';
import { LIVE_HANDLES, restoreMessage, saveMessage, UnsavableMessageError } from '../../../core/pause/saved-message';

/** Saved, through text as on disk or in a wake-up URL, and restored. */
const roundTrip = (msg: Record<string, unknown>, keep?: string[], skip?: string[]): Record<string, unknown> =>
  restoreMessage(JSON.parse(JSON.stringify(saveMessage(msg, keep, skip))) as Record<string, unknown>);

describe('the saved-message codec (core/pause/saved-message.ts)', function () {
  const comesBack: [string, Record<string, unknown>][] = [
    ['plain JSON values', { payload: 'text', n: 1.5, ok: false, none: null, list: [1, 'two', [3]] }],
    ['a Buffer, and an empty one', { payload: Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a]), empty: Buffer.alloc(0) }],
    ['Buffers nested in objects and arrays', { payload: { chunk: { bytes: Buffer.from('RIFF') }, frames: [Buffer.from('a'), { b: Buffer.from('b') }] } }],
    ['an object with a $buffer key among others, as it was', { payload: { $buffer: 'AAEC', other: 1 } }],
    ['an object that is exactly { $buffer: <base64> }, as an object, not a Buffer', { payload: { $buffer: 'AAEC' }, nested: [{ $buffer: 'aGk=' }] }],
    ['keys that look like an escaped tag ($$buffer, $$$buffer), as they were', { payload: { $$buffer: 'AAEC' }, more: { $$$buffer: 'x', $buffer: 'y' } }],
    ['a Buffer under a $buffer key', { payload: { $buffer: Buffer.from('hi') } }],
    ['an object that looks like JSON.stringify’s Buffer, as an object', { payload: { type: 'Buffer', data: [1, 2] } }],
    ['deep nesting', { payload: JSON.parse(`${'{"a":'.repeat(50)}1${'}'.repeat(50)}`) as unknown }],
  ];
  for (const [story, msg] of comesBack) {
    it(`gives back ${story}`, function () {
      const back = roundTrip(msg);
      assert.deepEqual(back, msg);
      // deepEqual is content-only for a Buffer against a Uint8Array-like object: check the kind too.
      const buffers = (value: unknown): unknown => (Buffer.isBuffer(value) ? 'Buffer' : value && typeof value === 'object' ? Object.values(value).map(buffers) : typeof value);
      assert.deepEqual(buffers(back), buffers(msg));
    });
  }

  it('gives back a Uint8Array that is not a Buffer (a view into a larger ArrayBuffer) as a Buffer of its bytes', function () {
    const whole = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const back = roundTrip({ payload: new Uint8Array(whole.buffer, 2, 3) });
    assert.ok(Buffer.isBuffer(back.payload));
    assert.deepEqual([...back.payload], [1, 2, 3]);
  });

  it('writes a Buffer as base64 under one key, so the saved form is plain JSON', function () {
    assert.deepEqual(saveMessage({ payload: Buffer.from('hi') }), { payload: { $buffer: 'aGk=' } });
  });

  it("escapes a message's own tag-like key with one more $, and reads a wait saved before that (a tag is a Buffer)", function () {
    assert.deepEqual(saveMessage({ payload: { $buffer: 'aGk=' } }), { payload: { $$buffer: 'aGk=' } });
    assert.deepEqual(restoreMessage({ payload: { $buffer: 'aGk=' } }), { payload: Buffer.from('hi') });
  });

  it(`leaves out the live handles (${LIVE_HANDLES.join(', ')}), functions, undefined and what it is told to skip`, function () {
    const saved = saveMessage({ payload: 1, req: { socket: {} }, res: { socket: {} }, fn: () => 1, gone: undefined, aiware: { taskId: 't' } }, [], ['aiware']);
    assert.deepEqual(saved, { payload: 1 });
  });

  it('keeps only the properties named, when it is given names, and skips names the message lacks', function () {
    assert.deepEqual(saveMessage({ payload: 1, topic: 't', other: 2 }, ['topic', 'missing']), { topic: 't' });
  });

  it('keeps req when it is named (the caller asked for it) but never what it is told to skip', function () {
    assert.deepEqual(saveMessage({ req: { url: '/x' }, aiware: { taskId: 't' } }, ['req', 'aiware'], ['aiware']), { req: { url: '/x' } });
  });

  it('turns what JSON turns: a Date into its ISO text, NaN and Infinity into null, a Map into {}', function () {
    const saved = saveMessage({ when: new Date(Date.UTC(2026, 0, 1)), nan: NaN, inf: Infinity, map: new Map([['a', 1]]) });
    assert.deepEqual(restoreMessage(saved), { when: '2026-01-01T00:00:00.000Z', nan: null, inf: null, map: {} });
  });

  const refused: [string, () => Record<string, unknown>, RegExp][] = [
    [
      'a loop',
      () => {
        const loop: Record<string, unknown> = { name: 'loop' };
        loop.self = loop;
        return { payload: 1, context: loop };
      },
      /^msg\.context cannot be saved for the callback: Converting circular structure to JSON$/,
    ],
    ['a BigInt', () => ({ count: 10n }), /^msg\.count cannot be saved for the callback: Do not know how to serialize a BigInt$/],
    ['a BigInt deep inside', () => ({ payload: { list: [{ n: 1n }] } }), /^msg\.payload cannot be saved for the callback: Do not know how to serialize a BigInt$/],
  ];
  for (const [story, make, message] of refused) {
    it(`refuses ${story}, naming the property, in one line`, function () {
      assert.throws(
        () => saveMessage(make()),
        (err: unknown) => err instanceof UnsavableMessageError && err.name === 'UnsavableMessageError' && message.test(err.message),
      );
    });
  }
});
