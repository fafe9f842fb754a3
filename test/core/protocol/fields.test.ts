// The /process field parser (core/protocol/fields.ts): what ET sends, typed; what it may not send, refused with a 400.
import * as assert from 'node:assert/strict';
import { parseProcessFields, redactFields, PROCESS_FIELDS, FieldError } from '../../../core';

/** The fields ET sent: every key is present on the parsed object, undefined when absent. */
function defined(fields: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

describe('the /process field parser', function () {
  it('types every field ET sends, from strings', function () {
    const { fields, chunkMetadata, extra } = parseProcessFields({
      chunkMimeType: 'audio/wav',
      startOffsetMS: '1000',
      endOffsetMS: '2000',
      chunkIndex: '3',
      chunkTimestamp: '1700000000000',
      width: '640',
      height: '480',
      maxTTL: '60',
      payload: '{"mode":"library-run","n":1}',
      chunkContext: 'ctx',
      'chunk-metadata-x-aiware-chunk-timestamp': '17',
      'Chunk-Metadata-Source': 'push',
      somethingNew: 'kept',
    });
    assert.deepEqual(defined(fields), {
      chunkMimeType: 'audio/wav',
      startOffsetMS: 1000,
      endOffsetMS: 2000,
      chunkIndex: 3,
      chunkTimestamp: 1700000000000,
      width: 640,
      height: 480,
      maxTTL: 60,
      payload: { mode: 'library-run', n: 1 },
      chunkContext: 'ctx',
    });
    assert.deepEqual(chunkMetadata, { 'x-aiware-chunk-timestamp': '17', Source: 'push' });
    assert.deepEqual(extra, { somethingNew: 'kept' });
  });

  it('accepts the lower-case spellings and treats empty strings as absent', function () {
    const { fields } = parseProcessFields({ startOffsetMs: '5', endoffsetms: '6', cacheUri: 'http://x', width: '' });
    assert.deepEqual(defined(fields), { startOffsetMS: 5, endOffsetMS: 6, cacheURI: 'http://x' });
  });

  it('keeps a non-numeric chunkTimestamp as the string sent', function () {
    assert.equal(parseProcessFields({ chunkTimestamp: '2026-11-28T00:00:00Z' }).fields.chunkTimestamp, '2026-11-28T00:00:00Z');
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['payload', { payload: '{"a":' }, /payload is not JSON/],
    ['payload', { payload: '[1,2]' }, /payload must be a JSON object/],
    ['startOffsetMS', { startOffsetMS: '1.5' }, /startOffsetMS must be an integer, got "1.5"/],
    ['endOffsetMS', { endOffsetMs: 'abc' }, /endOffsetMS must be an integer/],
    ['width', { width: '99999999999999999999' }, /width must be an integer/],
    ['maxTTL', { maxTTL: '0' }, /maxTTL must be a positive number of seconds/],
  ];
  for (const [field, raw, message] of bad) {
    it(`refuses ${JSON.stringify(raw)} with a 400 naming ${field}`, function () {
      assert.throws(
        () => parseProcessFields(raw),
        (err: unknown) => err instanceof FieldError && err.status === 400 && err.field === field && message.test(err.message),
      );
    });
  }

  it('masks the tokens for logs', function () {
    assert.deepEqual(redactFields({ token: 'secret', controllerToken: 'secret2', chunkContext: 'c' }), {
      token: '[redacted]',
      controllerToken: '[redacted]',
      chunkContext: 'c',
    });
  });

  it('knows every /process field, and gives each parse every key', function () {
    assert.equal(Object.keys(PROCESS_FIELDS).length, 27);
    assert.deepEqual(Object.keys(parseProcessFields({}).fields), Object.keys(PROCESS_FIELDS));
  });
});
