// The pack's own small toolkit for "try it" in the editor: one work item posted to an engine's
// /process as Engine Toolkit posts it (multipart, the chunk as the part `chunk`), with heartbeat,
// result and cache webhooks on a loopback server of its own for the run, and every answer, heartbeat
// and result reported as it comes. No Node-RED here, and not the simulator: a palette install has
// neither the runner nor the CLI.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { readBounded } from '../http/read-bounded';
import { CHUNK_METADATA_PREFIX } from '../protocol/constants';
import type { EngineType } from '../protocol/constants';

export interface TrySample {
  data: Buffer;
  mimeType: string;
  filename: string;
}

export interface TryRequest {
  /** The task's `internalTaskId`, for the engine to find the run by; one is made when absent. */
  internalTaskId?: string;
  /** The engine's /process URL. */
  processUrl: string;
  engineType: EngineType;
  /** A chunk engine's chunk; a stream engine's cache (served at cacheURI). Batch engines get none. */
  sample?: TrySample;
  /** The `payload` field as sent (JSON text). */
  payload?: string;
  startOffsetMS?: number;
  endOffsetMS?: number;
  /** `chunk-metadata-*` fields, without the prefix. */
  chunkMetadata?: Record<string, string>;
  /** How long the run may take, in seconds: sent as maxTTL, and the run ends as timed out after it. */
  maxTTL: number;
}

export type TryEvent = { kind: 'answer'; status: number; body: unknown } | { kind: 'heartbeat'; body: Record<string, unknown> } | { kind: 'result'; body: Record<string, unknown> };

/** How the run ended: what ET would conclude of the task. */
export interface TryOutcome {
  status: 'complete' | 'failed' | 'ignored' | 'timeout';
  /** The failure's reason and message, when failed. */
  failureReason?: string;
  failureMsg?: string;
  results: number;
  heartbeats: number;
  ms: number;
}

/** Heartbeat statuses that end a task (as ET reads them). */
const FINAL = new Set(['complete', 'failed']);
const MAX_WEBHOOK_BODY = 16 * 1024 * 1024;

/** The work item's fields, as ET fills them, for the try-it webhooks at `base`. */
export function tryFields(request: TryRequest, base: string): Record<string, string> {
  const taskId = request.internalTaskId ?? `try-${crypto.randomBytes(6).toString('hex')}`;
  const fields: Record<string, string> = {
    chunkContext: `try-${crypto.randomUUID()}`,
    heartbeatWebhook: `${base}/heartbeat`,
    resultWebhook: `${base}/result`,
    maxTTL: String(request.maxTTL),
    internalJobId: `try-job-${crypto.randomBytes(4).toString('hex')}`,
    internalTaskId: taskId,
    startOffsetMS: String(request.startOffsetMS ?? 0),
    endOffsetMS: String(request.endOffsetMS ?? 10_000),
    chunkIndex: '0',
    chunkUUID: crypto.randomUUID(),
    chunkTimestamp: String(Date.now()),
    // A training try writes its model where ET would give it a folder: one of the OS temp folder's.
    libraryId: 'try-library',
    libraryEngineModelId: 'try-model',
    libraryModelDirectory: path.join(os.tmpdir(), 'aiware-try-models'),
  };
  if (request.payload !== undefined && request.payload !== '') fields.payload = request.payload;
  if (request.sample && request.engineType === 'chunk') fields.chunkMimeType = request.sample.mimeType;
  if (request.sample && request.engineType === 'stream') fields.cacheURI = `${base}/cache`;
  for (const [key, value] of Object.entries(request.chunkMetadata ?? {})) fields[`${CHUNK_METADATA_PREFIX}${key}`] = value;
  return fields;
}

/**
 * Runs one work item and resolves with its outcome: at the /process answer for a synchronous chunk
 * (or any answer other than 200 with an estimate), else at the final heartbeat or when `maxTTL` passes.
 */
export async function runTry(request: TryRequest, onEvent: (event: TryEvent) => void): Promise<TryOutcome> {
  const started = Date.now();
  let results = 0;
  let heartbeats = 0;
  let lastSaid = '';
  let finish: (outcome: Omit<TryOutcome, 'results' | 'heartbeats' | 'ms'>) => void = () => undefined;
  const ended = new Promise<Omit<TryOutcome, 'results' | 'heartbeats' | 'ms'>>((resolve) => (finish = resolve));

  const server = http.createServer((req, res) => {
    const route = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && route === '/cache' && request.sample) {
      res.writeHead(200, { 'Content-Type': request.sample.mimeType, 'Content-Length': request.sample.data.length });
      res.end(request.sample.data);
      return;
    }
    if (req.method !== 'POST' || (route !== '/heartbeat' && route !== '/result')) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'not found' }));
      return;
    }
    readBounded(req, MAX_WEBHOOK_BODY)
      .then((buffer) => {
        const body = JSON.parse(buffer.toString('utf8')) as Record<string, unknown>;
        res.writeHead(204).end();
        if (route === '/result') {
          results++;
          onEvent({ kind: 'result', body });
          return;
        }
        heartbeats++;
        // A running heartbeat that says nothing new (the pack repeats the last one every second, for
        // hours while a task waits for a callback) is counted, not shown again.
        const said = JSON.stringify(body);
        if (said !== lastSaid) onEvent({ kind: 'heartbeat', body });
        lastSaid = said;
        const status = String(body.status);
        if (FINAL.has(status)) {
          finish({
            status: status as 'complete' | 'failed',
            failureReason: typeof body.failureReason === 'string' ? body.failureReason : undefined,
            failureMsg: typeof body.failureMsg === 'string' ? body.failureMsg : undefined,
          });
        }
      })
      .catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: String(err) }));
      });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const timer = setTimeout(() => finish({ status: 'timeout', failureMsg: `no final heartbeat within ${request.maxTTL} s (maxTTL)` }), request.maxTTL * 1000);

  try {
    const form = new FormData();
    for (const [name, value] of Object.entries(tryFields(request, base))) form.append(name, value);
    if (request.sample && request.engineType === 'chunk') {
      form.append('chunk', new Blob([new Uint8Array(request.sample.data)], { type: request.sample.mimeType }), request.sample.filename);
    }
    const answer = await fetch(request.processUrl, { method: 'POST', body: form, signal: AbortSignal.timeout(request.maxTTL * 1000) }).then(
      async (res) => {
        const text = await res.text();
        let body: unknown = text;
        try {
          body = text ? (JSON.parse(text) as unknown) : undefined;
        } catch {
          // Not JSON: reported as the text it is.
        }
        return { status: res.status, body };
      },
      (err: unknown) => ({ status: 0, body: { error: `no answer from ${request.processUrl}: ${String(err)}` } }),
    );
    onEvent({ kind: 'answer', ...answer });
    const estimate = (answer.body as { estimatedProcessingTimeInSeconds?: unknown } | undefined)?.estimatedProcessingTimeInSeconds;
    if (answer.status === 204) finish({ status: 'ignored' });
    else if (answer.status !== 200) {
      const body = answer.body as { error?: unknown; failureReason?: unknown } | undefined;
      finish({
        status: 'failed',
        failureReason: typeof body?.failureReason === 'string' ? body.failureReason : undefined,
        failureMsg: typeof body?.error === 'string' ? body.error : `/process answered ${answer.status}`,
      });
    } else if (typeof estimate !== 'number') {
      // A synchronous answer is the result.
      results++;
      finish({ status: 'complete' });
    }
    const outcome = await ended;
    return { ...outcome, results, heartbeats, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
    server.closeAllConnections();
    server.close();
  }
}

/** MIME types by file extension, for a try-it file; anything else is application/octet-stream. */
const MIME_BY_EXTENSION: Record<string, string> = {
  txt: 'text/plain',
  json: 'application/json',
  csv: 'text/csv',
  html: 'text/html',
  xml: 'application/xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  mp4: 'video/mp4',
  pdf: 'application/pdf',
};

export function mimeTypeOf(filename: string): string {
  const dot = filename.lastIndexOf('.');
  return (dot >= 0 && MIME_BY_EXTENSION[filename.slice(dot + 1).toLowerCase()]) || 'application/octet-stream';
}

/**
 * A typed sample: text as it is, or a `data:` URL (`data:image/png;base64,…`) for bytes that are not
 * text. Returns the bytes and the MIME type the URL names (else `fallbackMime`).
 */
export function decodeSample(text: string, fallbackMime: string): { data: Buffer; mimeType: string } {
  const match = /^data:([^;,]*)(;base64)?,(.*)$/s.exec(text.trim());
  if (!match) return { data: Buffer.from(text, 'utf8'), mimeType: fallbackMime };
  const data = match[2] ? Buffer.from(match[3], 'base64') : Buffer.from(decodeURIComponent(match[3]), 'utf8');
  return { data, mimeType: match[1] || fallbackMime };
}
