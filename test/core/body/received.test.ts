// What the body reader hands on (core/body/received.ts, types only): checked against what
// readProcessBody gives for a real request, so a field the types promise is one the reader fills.
import * as assert from 'node:assert/strict';
import { readProcessBody, type ReceivedBody, type ReceivedChunk } from '../../../core';
import { encodeMultipart } from '@aiware-nodered/aiware-sim';
import { request, serve } from '../../support/loopback';

describe('what the body reader hands on (core/body/received.ts)', function () {
  it('is a body of string fields and an in-memory chunk with its size, filename and media type', async function () {
    let got: ReceivedBody | undefined;
    const server = await serve((req, res) => {
      void readProcessBody(req, {}).then((body) => {
        got = body;
        res.end();
      });
    });
    try {
      const { body, contentType } = encodeMultipart({ chunkContext: 'ctx', maxTTL: '60' }, { data: Buffer.from('RIFF'), mimeType: 'audio/wav', filename: 'a.wav' });
      await request(server.url, { body, headers: { 'Content-Type': contentType } });
      const chunk: ReceivedChunk = got!.chunk!;
      assert.deepEqual(got!.raw, { chunkContext: 'ctx', maxTTL: '60' });
      assert.deepEqual({ ...chunk, buffer: chunk.buffer?.toString() }, { buffer: 'RIFF', size: 4, filename: 'a.wav', mimeType: 'audio/wav' });
      assert.equal(got!.bytesRead, body.length);
    } finally {
      await server.close();
    }
  });
});
