// The try-it client (core/host/try-it.ts) on its own: the work item it builds, the samples it reads,
// and one run against plain node:http engines that answer as a synchronous, an asynchronous, a
// failing and an ignoring engine do. How the editor's button uses it is test/try-it.test.ts.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { decodeSample, mimeTypeOf, readProcessBody, runTry, tryFields, type ReceivedBody, type TryEvent, type TryRequest } from '../../../core';
import { serve } from '../../support/loopback';

const SAMPLE = { data: Buffer.from('hello'), mimeType: 'text/plain', filename: 'hello.txt' };

describe('the try-it client (core/host/try-it.ts)', function () {
  const mimeTypes: [string, string][] = [
    ['speech.WAV', 'audio/wav'],
    ['frame.jpeg', 'image/jpeg'],
    ['notes.txt', 'text/plain'],
    ['archive.tar.gz', 'application/octet-stream'],
    ['no-extension', 'application/octet-stream'],
  ];
  for (const [filename, type] of mimeTypes) {
    it(`takes ${filename} for ${type}`, function () {
      assert.equal(mimeTypeOf(filename), type);
    });
  }

  const samples: [string, string, string][] = [
    ['the cat sat', 'the cat sat', 'text/plain'],
    ['data:image/png;base64,aGk=', 'hi', 'image/png'],
    ['data:,a%20b', 'a b', 'text/plain'],
    ['  data:application/json,{}  ', '{}', 'application/json'],
  ];
  for (const [text, data, mimeType] of samples) {
    it(`reads the sample ${JSON.stringify(text)}`, function () {
      assert.deepEqual(decodeSample(text, 'text/plain'), { data: Buffer.from(data), mimeType });
    });
  }

  it('fills the work item as ET does, with webhooks at its own server, a chunk MIME type for a chunk engine and a cacheURI for a stream one', function () {
    const request: TryRequest = { processUrl: 'http://127.0.0.1:1/process', engineType: 'chunk', sample: SAMPLE, payload: '{"a":1}', maxTTL: 30, chunkMetadata: { camera: 'north' } };
    const fields = tryFields(request, 'http://127.0.0.1:9');
    assert.equal(fields.heartbeatWebhook, 'http://127.0.0.1:9/heartbeat');
    assert.equal(fields.resultWebhook, 'http://127.0.0.1:9/result');
    assert.deepEqual([fields.maxTTL, fields.payload, fields.chunkMimeType, fields['chunk-metadata-camera'], fields.cacheURI], ['30', '{"a":1}', 'text/plain', 'north', undefined]);
    assert.match(fields.internalTaskId, /^try-[0-9a-f]{12}$/);
    const stream = tryFields({ ...request, engineType: 'stream', internalTaskId: 'mine', payload: '' }, 'http://127.0.0.1:9');
    assert.deepEqual([stream.cacheURI, stream.chunkMimeType, stream.internalTaskId, stream.payload], ['http://127.0.0.1:9/cache', undefined, 'mine', undefined]);
  });

  /** Posts `body` as JSON to a webhook of the try-it server. */
  const postJson = (url: string, body: unknown) => fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

  const engines: [string, (body: ReceivedBody, res: http.ServerResponse) => Promise<void> | void, Partial<Awaited<ReturnType<typeof runTry>>>, TryEvent['kind'][]][] = [
    [
      'a synchronous engine: its answer is the result',
      (body, res) => void res.end(JSON.stringify({ words: body.chunk!.buffer!.toString() })),
      { status: 'complete', results: 1, heartbeats: 0 },
      ['answer'],
    ],
    [
      'an asynchronous engine: a result, then the complete heartbeat',
      async (body, res) => {
        res.end(JSON.stringify({ estimatedProcessingTimeInSeconds: 1 }));
        await postJson(body.raw.resultWebhook, { index: 1, output: {} });
        await postJson(body.raw.heartbeatWebhook, { status: 'complete' });
      },
      { status: 'complete', results: 1, heartbeats: 1 },
      ['answer', 'result', 'heartbeat'],
    ],
    [
      'an engine that fails the task with a heartbeat',
      async (body, res) => {
        res.end(JSON.stringify({ estimatedProcessingTimeInSeconds: 1 }));
        await postJson(body.raw.heartbeatWebhook, { status: 'failed', failureReason: 'invalid_data', failureMsg: 'not audio' });
      },
      { status: 'failed', failureReason: 'invalid_data', failureMsg: 'not audio' },
      ['answer', 'heartbeat'],
    ],
    [
      'an engine that refuses the chunk',
      (_body, res) => void res.writeHead(400).end(JSON.stringify({ error: 'payload is not JSON' })),
      { status: 'failed', failureMsg: 'payload is not JSON' },
      ['answer'],
    ],
    ['an engine that ignores the chunk (204)', (_body, res) => void res.writeHead(204).end(), { status: 'ignored', results: 0 }, ['answer']],
  ];
  for (const [story, answer, outcome, events] of engines) {
    it(`runs one work item against ${story}`, async function () {
      const engine = await serve((req, res) => void readProcessBody(req, {}).then((body) => answer(body, res)));
      try {
        const seen: TryEvent['kind'][] = [];
        const got = await runTry({ processUrl: `${engine.url}/process`, engineType: 'chunk', sample: SAMPLE, maxTTL: 10 }, (event) => seen.push(event.kind));
        assert.deepEqual({ ...got, ...outcome }, got);
        assert.deepEqual(seen, events);
      } finally {
        await engine.close();
      }
    });
  }

  it('fails a run whose engine does not answer, saying where it tried', async function () {
    const gone = await serve(() => undefined);
    await gone.close();
    const got = await runTry({ processUrl: `${gone.url}/process`, engineType: 'batch', maxTTL: 10 }, () => undefined);
    assert.equal(got.status, 'failed');
    assert.match(got.failureMsg ?? '', new RegExp(`^no answer from ${gone.url}/process: `));
  });
});
