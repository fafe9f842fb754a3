// The reader of a /process request body (SPEC §3): multipart/form-data as Engine Toolkit sends it,
// urlencoded and JSON for curl and tests. Nothing here buffers without a bound: the chunk stays in
// memory up to `memoryChunkBytes` and streams to a temp file past it, with backpressure all the way
// back to the socket.
import type * as http from 'node:http';
import type { Readable } from 'node:stream';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import busboy from 'busboy';
import { ProtocolError } from './errors';

export interface BodyLimits {
  /** The whole request body. Past it: 413, checked on Content-Length up front and on the bytes read. */
  maxBodyBytes: number;
  /** A chunk up to this size stays in memory; a larger one spills to a temp file. Also bounds JSON and urlencoded bodies. */
  memoryChunkBytes: number;
  /** One text field. Past it: 413 naming the field. */
  maxFieldBytes: number;
  /** Text fields in one request. Past it: 413. */
  maxFields: number;
  /**
   * Where big chunks spill. When absent: the request's `taskTmpDir` field if it arrived before
   * the chunk part and is a directory, else `os.tmpdir()`.
   */
  tmpDir?: string;
}

export const DEFAULT_LIMITS: Readonly<BodyLimits> = Object.freeze({
  maxBodyBytes: 4 * 1024 * 1024 * 1024,
  memoryChunkBytes: 8 * 1024 * 1024,
  maxFieldBytes: 1024 * 1024,
  maxFields: 1000,
});

export interface ReceivedChunk {
  /** The bytes, when the chunk is in memory. */
  buffer?: Buffer;
  /** The temp file holding the bytes, when the chunk spilled to disk (or `chunkToFile` wrote it). The caller removes it. */
  path?: string;
  size: number;
  /** The part's filename. */
  filename?: string;
  /**
   * The part's content type, without parameters (busboy drops them): a charset travels in the
   * `chunkMimeType` field. Absent for a chunk that came as a JSON or urlencoded string.
   */
  mimeType?: string;
}

export interface ReceivedBody {
  /** Every field but the chunk, as strings; a repeated name keeps its last value. */
  raw: Record<string, string>;
  chunk?: ReceivedChunk;
  bytesRead: number;
}

const MULTIPART = 'multipart/form-data';
const URLENCODED = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const CHUNK_FIELD = 'chunk';
const TEMP_PREFIX = 'aiware-chunk-';

/**
 * Reads a /process request body. Resolves once the whole body is read and a spilled chunk is
 * closed on disk; rejects with a `ProtocolError` (and no temp file left behind) otherwise.
 * On rejection the rest of the body is left unread: answer with `sendJsonError`, which closes
 * the connection in that case.
 *
 * JSON bodies: a string value is kept as it is, `null` counts as absent, any other value is kept as
 * its JSON text (`3` -> "3", `{"a":1}` -> '{"a":1}') so `parseProcessFields` types it like a string
 * field. In JSON and urlencoded bodies a `chunk` field is the chunk, in memory, as UTF-8 bytes.
 */
export function readProcessBody(req: http.IncomingMessage, limits?: Partial<BodyLimits>): Promise<ReceivedBody> {
  const l = limits === undefined ? DEFAULT_LIMITS : resolveLimits(limits);
  const type = mediaType(req.headers['content-type']);
  if (type !== MULTIPART && type !== URLENCODED && type !== JSON_TYPE) {
    return Promise.reject(
      new ProtocolError(
        415,
        `unsupported content type ${type === '' ? '(none)' : JSON.stringify(type.slice(0, 100))}; ` +
          'send multipart/form-data, application/x-www-form-urlencoded or application/json',
      ),
    );
  }
  const declared = contentLength(req);
  if (declared > l.maxBodyBytes) return Promise.reject(bodyTooLarge(l.maxBodyBytes));
  if (type === MULTIPART) return readMultipart(req, l, declared > l.memoryChunkBytes);
  const limit = Math.min(l.memoryChunkBytes, l.maxBodyBytes);
  if (declared > limit) return Promise.reject(smallBodyTooLarge(type, limit));
  return readSmallBody(req, type, limit).then((body) => fromSmallBody(type, body, l));
}

/** Each limit from `limits` when set, else its default (an explicit `undefined` counts as unset). */
export function resolveLimits(limits: Partial<BodyLimits>): BodyLimits {
  return {
    maxBodyBytes: limits.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes,
    memoryChunkBytes: limits.memoryChunkBytes ?? DEFAULT_LIMITS.memoryChunkBytes,
    maxFieldBytes: limits.maxFieldBytes ?? DEFAULT_LIMITS.maxFieldBytes,
    maxFields: limits.maxFields ?? DEFAULT_LIMITS.maxFields,
    tmpDir: limits.tmpDir || undefined,
  };
}

function bodyTooLarge(limit: number): ProtocolError {
  return new ProtocolError(413, `request body is larger than ${limit} bytes`);
}

function smallBodyTooLarge(type: string, limit: number): ProtocolError {
  return new ProtocolError(413, `${type} body is larger than ${limit} bytes; send big chunks as multipart/form-data`);
}

function fieldTooLarge(name: string, limit: number): ProtocolError {
  return new ProtocolError(413, `field ${JSON.stringify(name)} is larger than ${limit} bytes`, { field: name });
}

function tooManyFields(limit: number): ProtocolError {
  return new ProtocolError(413, `request has more than ${limit} fields`);
}

function disconnected(): ProtocolError {
  return new ProtocolError(400, 'the client closed the connection before the request body was complete', {
    reason: 'stream_read_error',
  });
}

/** `type/subtype` in lower case, or '' when there is none. */
function mediaType(header: string | undefined): string {
  if (header === undefined) return '';
  const semi = header.indexOf(';');
  return (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
}

/** The declared body length, or -1 (chunked, or none). Node's parser has already refused bad values. */
function contentLength(req: http.IncomingMessage): number {
  const header = req.headers['content-length'];
  if (header === undefined) return -1;
  const n = Number(header);
  return Number.isFinite(n) ? n : -1;
}

// ---------------------------------------------------------------------------------------------
// multipart/form-data

/**
 * `spillAtOnce`: the declared body is bigger than memoryChunkBytes, so the chunk will not stay in
 * memory: it goes to disk from its first byte rather than after buffering memoryChunkBytes.
 */
function readMultipart(req: http.IncomingMessage, l: BodyLimits, spillAtOnce: boolean): Promise<ReceivedBody> {
  return new Promise<ReceivedBody>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        // Go's multipart writer (Engine Toolkit) puts UTF-8 file names in plain quotes.
        defParamCharset: 'utf8',
        // One byte over the limit, so that a field of exactly maxFieldBytes is not "truncated".
        limits: { fieldSize: l.maxFieldBytes + 1, fields: l.maxFields, files: l.maxFields },
      });
    } catch (err) {
      const text = (err as Error).message;
      reject(
        new ProtocolError(
          400,
          /boundary/i.test(text)
            ? 'multipart/form-data request has no boundary: its Content-Type must name one (multipart/form-data; boundary=...)'
            : `multipart/form-data request has a malformed Content-Type: ${text}`,
        ),
      );
      return;
    }

    const raw: Record<string, string> = {};
    let bytesRead = 0;
    let settled = false;
    let parsed = false; // busboy has seen the closing boundary and every part's end
    let chunk: ReceivedChunk | undefined;
    let receiving: ChunkReceiver | undefined; // the chunk part, until it is complete

    const onData = (data: Buffer): void => {
      bytesRead += data.length;
      if (bytesRead > l.maxBodyBytes) return fail(bodyTooLarge(l.maxBodyBytes));
      if (!bb.write(data)) req.pause();
    };
    const onDrain = (): void => {
      if (!settled) req.resume();
    };
    const onEnd = (): void => {
      bb.end();
    };
    const onReqError = (): void => fail(disconnected());
    const onReqClose = (): void => {
      if (!req.complete) fail(disconnected());
    };

    const detach = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onReqError);
      req.off('close', onReqClose);
      // Stop reading: what is left of the body stays in the socket, which the answer then closes.
      if (!req.complete) req.pause();
    };

    const fail = (err: ProtocolError): void => {
      if (settled) return;
      settled = true;
      detach();
      bb.destroy();
      const pending = receiving;
      receiving = undefined;
      const done = (): void => reject(err);
      const file = chunk?.path;
      if (pending) pending.discard().then(done, done);
      else if (file !== undefined) removeQuietly(file).then(done, done);
      else done();
    };

    const succeed = (): void => {
      if (settled || !parsed || receiving) return;
      settled = true;
      detach();
      resolve({ raw, chunk, bytesRead });
    };

    const setChunk = (received: ReceivedChunk): void => {
      chunk = received;
      receiving = undefined;
      succeed();
    };

    bb.on('field', (name, value, info) => {
      if (settled) return;
      if (info.valueTruncated) return fail(fieldTooLarge(name, l.maxFieldBytes));
      if (name === CHUNK_FIELD) {
        // A chunk sent as a text part (curl -F chunk=text): in memory, as UTF-8.
        if (chunk || receiving) return fail(secondChunk());
        const buffer = Buffer.from(value, 'utf8');
        chunk = { buffer, size: buffer.length, mimeType: info.mimeType };
        return;
      }
      raw[name] = value;
    });

    bb.on('file', (name, stream, info) => {
      // Busboy destroys a part's stream with an error when the body ends inside it.
      stream.on('error', onFileError);
      if (settled) return;
      if (name !== CHUNK_FIELD) {
        // Only `chunk` is a file in the protocol; other file parts are read past and dropped.
        stream.resume();
        return;
      }
      if (chunk || receiving) {
        stream.resume();
        return fail(secondChunk());
      }
      receiving = new ChunkReceiver(stream, info.filename, info.mimeType, l, spillAtOnce, raw, setChunk, fail);
    });

    const onFileError = (err: Error): void => fail(multipartError(err));
    bb.on('fieldsLimit', () => fail(tooManyFields(l.maxFields)));
    bb.on('filesLimit', () => fail(new ProtocolError(413, `request has more than ${l.maxFields} file parts`)));
    bb.on('error', (err: Error) => fail(multipartError(err)));
    bb.on('drain', onDrain);
    bb.on('finish', () => {
      parsed = true;
      succeed();
    });

    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onReqError);
    req.on('close', onReqClose);
  });
}

function secondChunk(): ProtocolError {
  return new ProtocolError(400, 'multipart body has more than one "chunk" part; send one chunk per request', {
    field: CHUNK_FIELD,
  });
}

function multipartError(err: Error): ProtocolError {
  const text = err.message;
  if (text === 'Unexpected end of form' || text === 'Unexpected end of file') {
    return new ProtocolError(
      400,
      `multipart body is truncated: it ended before the closing boundary (${text.toLowerCase()}); check the Content-Length and that the client sent the whole body`,
    );
  }
  return new ProtocolError(400, `multipart body is malformed: ${text.toLowerCase()}`);
}

/**
 * The `chunk` file part: buffered in memory while it fits in `memoryChunkBytes`; past that, a temp
 * file is opened, what was buffered is written to it, and the rest streams there. The part stream
 * is paused whenever the file stream's buffer is full, which stops busboy, which stops the request.
 */
class ChunkReceiver {
  private parts: Buffer[] = [];
  private size = 0;
  private out?: fs.WriteStream;
  private file?: string;
  private opening?: Promise<void>;
  private ended = false;
  private discarded = false;

  constructor(
    private readonly stream: Readable,
    private readonly filename: string | undefined,
    private readonly mimeType: string,
    private readonly limits: BodyLimits,
    private readonly spillAtOnce: boolean,
    private readonly raw: Record<string, string>,
    private readonly done: (chunk: ReceivedChunk) => void,
    private readonly fail: (err: ProtocolError) => void,
  ) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
  }

  private onData = (data: Buffer): void => {
    if (this.discarded) return;
    this.size += data.length;
    if (this.out) {
      if (!this.out.write(data)) this.stream.pause();
      return;
    }
    this.parts.push(data);
    if (this.opening === undefined && (this.spillAtOnce || this.size > this.limits.memoryChunkBytes)) {
      this.stream.pause();
      this.opening = this.openSpill();
    }
  };

  private onEnd = (): void => {
    this.ended = true;
    if (this.discarded || this.opening !== undefined) {
      // A spill: finished once the file is open (openSpill) and flushed (finishSpill).
      if (this.out) this.finishSpill();
      return;
    }
    const parts = this.parts;
    const buffer = parts.length === 1 ? parts[0] : Buffer.concat(parts, this.size);
    this.parts = [];
    this.done({ buffer, size: this.size, filename: this.filename, mimeType: this.mimeType });
  };

  private async openSpill(): Promise<void> {
    let dir = '';
    try {
      dir = await spillDir(this.limits, this.raw);
      if (this.discarded) return;
      const file = path.join(dir, tempName(this.filename));
      const handle = await fs.promises.open(file, 'wx', 0o600);
      this.file = file;
      if (this.discarded) {
        await handle.close();
        return;
      }
      const out = handle.createWriteStream();
      this.out = out;
      out.on('error', (err) => this.fail(writeError(dir, err)));
      out.on('drain', () => this.stream.resume());
      let ok = true;
      for (const part of this.parts) ok = out.write(part);
      this.parts = [];
      if (this.ended) this.finishSpill();
      else if (ok) this.stream.resume();
    } catch (err) {
      this.fail(writeError(dir, err as Error));
    }
  }

  private finishSpill(): void {
    const out = this.out!;
    out.end();
    out.once('close', () => {
      if (this.discarded || out.errored) return;
      const chunk: ReceivedChunk = { path: this.file, size: this.size, filename: this.filename, mimeType: this.mimeType };
      if (this.size > this.limits.memoryChunkBytes) return this.done(chunk);
      // Spilled at once on its Content-Length, yet small enough for memory after all (big
      // fields): it keeps its promise of an in-memory chunk, and has its file too.
      fs.readFile(this.file!, (err, buffer) => {
        if (this.discarded) return;
        if (err) this.fail(writeError(path.dirname(this.file!), err));
        else this.done({ ...chunk, buffer });
      });
    });
  }

  /** Drops the chunk: closes and removes its temp file, if it has one. Never rejects. */
  async discard(): Promise<void> {
    this.discarded = true;
    this.parts = [];
    if (this.opening) await this.opening;
    const out = this.out;
    if (out && !out.closed) {
      const closed = new Promise<void>((resolve) => out.once('close', resolve));
      out.destroy();
      await closed;
    }
    if (this.file !== undefined) await removeQuietly(this.file);
  }
}

function writeError(dir: string, err: Error): ProtocolError {
  return new ProtocolError(500, `could not write the chunk to a temp file in ${dir || 'the temp directory'}: ${err.message}`, {
    reason: 'file_write_error',
    cause: err,
  });
}

/** `limits.tmpDir`, else the `taskTmpDir` field when it names a directory, else the OS temp dir. */
async function spillDir(l: BodyLimits, raw: Record<string, string>): Promise<string> {
  if (l.tmpDir) return l.tmpDir;
  let taskTmpDir = raw.taskTmpDir;
  if (taskTmpDir === undefined) {
    // Field names are case-insensitive (core/fields.ts); this runs once per spilled chunk only.
    for (const name in raw) if (name.toLowerCase() === 'tasktmpdir') taskTmpDir = raw[name];
  }
  if (taskTmpDir) {
    try {
      if ((await fs.promises.stat(taskTmpDir)).isDirectory()) return taskTmpDir;
    } catch {
      // not there: the OS temp dir will do
    }
  }
  return os.tmpdir();
}

/** `aiware-chunk-<uuid>`, keeping a plain extension of the part's filename for tools that go by it. */
function tempName(filename: string | undefined): string {
  const ext = filename === undefined ? '' : path.extname(filename);
  return TEMP_PREFIX + randomUUID() + (/^\.[A-Za-z0-9]{1,12}$/.test(ext) ? ext : '');
}

// ---------------------------------------------------------------------------------------------
// application/json and application/x-www-form-urlencoded: small, read whole, bounded

function readSmallBody(req: http.IncomingMessage, type: string, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: ProtocolError | undefined): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) {
        if (!req.complete) req.pause();
        reject(err);
      } else {
        resolve(parts.length === 1 ? parts[0] : Buffer.concat(parts, size));
      }
    };
    const onData = (data: Buffer): void => {
      size += data.length;
      if (size > limit) return finish(smallBodyTooLarge(type, limit));
      parts.push(data);
    };
    const onEnd = (): void => finish(undefined);
    const onError = (): void => finish(disconnected());
    const onClose = (): void => {
      if (!req.complete) finish(disconnected());
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function fromSmallBody(type: string, body: Buffer, l: BodyLimits): ReceivedBody {
  const raw: Record<string, string> = {};
  let chunkText: string | undefined;
  let count = 0;
  const add = (name: string, value: string): void => {
    if (name === CHUNK_FIELD) {
      chunkText = value;
      return;
    }
    // A UTF-8 string takes at most 3 bytes per UTF-16 unit: measure only when it could be over.
    if (value.length * 3 > l.maxFieldBytes && Buffer.byteLength(value) > l.maxFieldBytes) {
      throw fieldTooLarge(name, l.maxFieldBytes);
    }
    if (++count > l.maxFields) throw tooManyFields(l.maxFields);
    raw[name] = value;
  };
  if (type === JSON_TYPE) {
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new ProtocolError(400, `application/json body is not JSON: ${(err as Error).message}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new ProtocolError(400, 'application/json body must be a JSON object of fields');
    }
    for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === null || v === undefined) continue;
      add(name, typeof v === 'string' ? v : JSON.stringify(v));
    }
  } else {
    for (const [name, v] of new URLSearchParams(body.toString('utf8'))) add(name, v);
  }
  if (chunkText === undefined) return { raw, bytesRead: body.length };
  const buffer = Buffer.from(chunkText, 'utf8');
  return { raw, chunk: { buffer, size: buffer.length }, bytesRead: body.length };
}

// ---------------------------------------------------------------------------------------------
// helpers for the nodes

const TEXT_APPLICATION_TYPES = new Set([
  'application/json',
  'application/xml',
  'application/javascript',
  'application/ecmascript',
  'application/x-javascript',
  'application/x-ndjson',
  'application/x-www-form-urlencoded',
  'application/yaml',
  'application/x-yaml',
  'application/toml',
  'application/sql',
  'application/graphql',
  'application/x-sh',
  'application/x-subrip',
  'application/rtf',
  'application/csv',
]);

/** Whether a MIME type (parameters allowed) names text. */
export function isTextMimeType(mimeType: string | undefined): boolean {
  const type = mediaType(mimeType);
  if (type === '') return false;
  return (
    type.startsWith('text/') ||
    TEXT_APPLICATION_TYPES.has(type) ||
    type.endsWith('+json') ||
    type.endsWith('+xml') ||
    type.endsWith('+yaml')
  );
}

const decoders = new Map<string, TextDecoder | null>();

function decoderFor(label: string): TextDecoder | null {
  let decoder = decoders.get(label);
  if (decoder === undefined) {
    try {
      decoder = new TextDecoder(label);
      if (decoder.encoding === 'utf-8') decoder = null; // the Buffer fast path below
    } catch {
      decoder = null; // unknown charset: UTF-8
    }
    // Bounded: labels come from requests.
    if (decoders.size < 64) decoders.set(label, decoder);
  }
  return decoder;
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;

/**
 * A text chunk as a string, decoded by the MIME type's charset (UTF-8 when there is none or it is
 * unknown); any other chunk as the Buffer itself.
 */
export function decodeChunkText(buffer: Buffer, mimeType: string | undefined): string | Buffer {
  if (!isTextMimeType(mimeType)) return buffer;
  const charset = CHARSET.exec(mimeType!)?.[1];
  const decoder = charset === undefined ? null : decoderFor(charset.toLowerCase());
  if (decoder) return decoder.decode(buffer);
  const bom = buffer.length >= 3 && buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf;
  return buffer.toString('utf8', bom ? 3 : 0);
}

/**
 * The chunk as a file, for nodes that need a path: a spilled chunk's own file, or an in-memory chunk
 * written to a new temp file in `dir` (default the OS temp dir). The path is remembered on the chunk,
 * so a second call writes nothing; the caller removes the file (`removeQuietly`).
 */
export async function chunkToFile(chunk: ReceivedChunk, dir?: string): Promise<string> {
  if (chunk.path !== undefined) return chunk.path;
  const file = path.join(dir ?? os.tmpdir(), tempName(chunk.filename));
  try {
    await fs.promises.writeFile(file, chunk.buffer ?? Buffer.alloc(0), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    await removeQuietly(file);
    throw writeError(dir ?? os.tmpdir(), err as Error);
  }
  chunk.path = file;
  return file;
}

/** Removes a file, ignoring every error (it may be gone already). */
export async function removeQuietly(file: string): Promise<void> {
  try {
    await fs.promises.unlink(file);
  } catch {
    // nothing to do
  }
}

/**
 * Answers with a JSON body (or none for 204 / an undefined body); `close` asks the client to
 * open a new connection for its next request. Nothing is written once an answer has started.
 */
export function sendJson(res: http.ServerResponse, status: number, body: unknown, options: { close?: boolean } = {}): void {
  if (res.headersSent || res.destroyed) return;
  const headers: http.OutgoingHttpHeaders = options.close ? { Connection: 'close' } : {};
  if (status === 204 || body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Answers a failed /process request with `{"error": "...", "field": "..."}` and the error's status.
 *
 * How a caller answers a body it could not read: when `readProcessBody` rejects before the end of
 * the body (413, 415, too many fields, a second chunk…), the rest of the body is still in the socket
 * and is never read, so the connection cannot carry another request. This sends `Connection: close`
 * in that case; Node then ends the socket once the answer is written (and this destroys it, should
 * it still be open). Nothing is sent when the client is gone (a disconnect mid-upload) or an answer
 * has already started: the response is destroyed instead.
 */
export function sendJsonError(res: http.ServerResponse, err: ProtocolError): void {
  const req = res.req;
  if (res.headersSent || res.destroyed || req.socket.destroyed) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  const body = JSON.stringify(err.toJSON());
  const unread = !req.complete;
  res.statusCode = err.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (!unread) {
    res.end(body);
    return;
  }
  res.setHeader('Connection', 'close');
  const socket = res.socket;
  res.end(body, () => {
    // Node ends a `Connection: close` socket itself once the answer is out; make sure of it, so an
    // unread body (say a 4 GiB upload past the limit) never keeps the connection open.
    if (socket && !socket.destroyed && !socket.writableEnded) socket.destroy();
  });
}
