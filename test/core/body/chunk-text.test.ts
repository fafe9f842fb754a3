// A chunk as text (core/body/chunk-text.ts): which MIME types are text, and in which charset.
import * as assert from 'node:assert/strict';
import { decodeChunkText } from '../../../core';

describe('a chunk as text (core/body/chunk-text.ts)', function () {
  const decodeCases: [string | undefined, Buffer, string | null][] = [
    ['text/plain', Buffer.from('\ufeffbom é'), 'bom é'],
    ['application/ld+json', Buffer.from('{"é":1}'), '{"é":1}'],
    ['image/svg+xml', Buffer.from('<svg/>'), '<svg/>'],
    ['text/csv; charset=no-such-charset', Buffer.from('a,é'), 'a,é'],
    ['text/plain; charset="windows-1252"', Buffer.from([0x63, 0xe9]), 'cé'],
    ['text/plain; charset=utf-16le', Buffer.from('hé', 'utf16le'), 'hé'],
    ['image/png', Buffer.from('png'), null],
    ['application/octet-stream', Buffer.from('bin'), null],
    [undefined, Buffer.from('?'), null],
  ];
  for (const [mime, bytes, text] of decodeCases) {
    it(`decodes ${mime ?? 'no MIME type'} as ${text === null ? 'a Buffer' : 'text'}`, function () {
      const out = decodeChunkText(bytes, mime);
      if (text === null) assert.equal(out, bytes);
      else assert.equal(out, text);
    });
  }
});
