// multipart/form-data as Engine Toolkit sends it (Go's multipart writer), read with multipasta:
// text fields bounded one by one, and the `chunk` file part in memory up to `memoryChunkBytes`,
// past that streamed to a temp file with backpressure all the way back to the socket.
//
// multipasta finds boundaries with Buffer#indexOf (native code) and hands each part's bytes to a
// callback as views of the socket's pieces: ~0.3 ms less CPU than busboy for a 4 MiB chunk in the
// runner's profile (busboy's boundary search is JavaScript, and each part is a Readable of its own).
import type * as http from 'node:http';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as Multipasta from 'multipasta';
import { ProtocolError } from './errors';
import { CHUNK_FIELD, bodyTooLarge, disconnected, fieldTooLarge, tooManyFields, type BodyLimits } from './body-limits';
import { removeQuietly, spillDir, tempName, writeError } from './chunk-file';
import { joinParts, ownBufferFrom } from './own-buffer';
import type { ReceivedBody, ReceivedChunk } from './body';
import type { ChunkPool } from './chunk-pool';

/** What multipasta hands a part's callback: a piece of its bytes, or null at its end. */
type PartSink = (piece: Uint8Array | null) => void;

/** A part read past: a file part other than `chunk`, or any part after the body was refused. */
const ignorePart: PartSink = () => undefined;

const DASH = 0x2d;
const EMPTY = new Uint8Array(0);
const UTF8 = /^utf-?8$/i;

/** `bytes` as UTF-8 text: the parser's pieces are Buffers (views of the socket's), its own copies plain Uint8Arrays. */
function utf8(bytes: Uint8Array): string {
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)).toString();
}

/**
 * Feeds multipasta around two of its habits:
 * - it takes the closing boundary's `--` for the start of another part's headers when the two
 *   dashes come in separate writes (the body is then refused as malformed), and a socket read can
 *   end between them: no write here ends with a '-'. A trailing run of dashes is held back and
 *   written with the next piece (a copy of that piece; about one piece in 256 of random bytes ends
 *   with a dash) or at the end;
 * - it copies its first write whole behind a CR LF of its own (so that a body may open with the
 *   boundary line): the first write here is only the opening `--boundary`, so what is copied is
 *   that line, not the first 64 KiB of the body.
 */
class MultipartFeed {
  private held?: Uint8Array;
  private first = true;

  constructor(
    private readonly parser: Multipasta.Parser,
    /** `--` and the boundary: how a body opens. */
    private readonly opening: number,
  ) {}

  write(data: Uint8Array): void {
    let piece = this.held ? Buffer.concat([this.held, data]) : data;
    this.held = undefined;
    if (this.first && piece.length > this.opening) {
      this.first = false;
      this.writeSafe(piece.subarray(0, this.opening));
      piece = this.held ? Buffer.concat([this.held, piece.subarray(this.opening)]) : piece.subarray(this.opening);
      this.held = undefined;
    }
    this.writeSafe(piece);
  }

  /** Writes `piece` but for a trailing run of dashes, which it holds. */
  private writeSafe(piece: Uint8Array): void {
    let end = piece.length;
    while (end > 0 && piece[end - 1] === DASH) end--;
    if (end < piece.length) this.held = piece.subarray(end);
    if (end > 0) this.parser.write(end === piece.length ? piece : piece.subarray(0, end));
  }

  end(): void {
    if (this.held) this.parser.write(this.held);
    this.held = undefined;
    this.parser.end();
  }
}

/** A filename as Go's multipart writer quoted it: `\"` and `\\` back to `"` and `\` (multipasta leaves them). */
function unquoteFilename(info: Multipasta.PartInfo): string | undefined {
  const filename = info.filename;
  if (!filename?.includes('\\')) return filename;
  const disposition = info.headers['content-disposition'];
  const quoted = typeof disposition === 'string' && /filename\s*=\s*"/i.test(disposition);
  return quoted ? filename.replace(/\\(.)/g, '$1') : filename;
}

/**
 * `declared`: the body's Content-Length, or -1. A body declared bigger than memoryChunkBytes
 * spills its chunk at once: to disk from its first byte rather than after buffering
 * memoryChunkBytes. A smaller one bounds the chunk part's size (see ChunkReceiver). With `pool`
 * (recycleChunks), a chunk read into memory at its bound gets pooled memory.
 */
export function readMultipart(req: http.IncomingMessage, l: BodyLimits, declared: number, pool?: ChunkPool): Promise<ReceivedBody> {
  const spillAtOnce = declared > l.memoryChunkBytes;
  return new Promise<ReceivedBody>((resolve, reject) => {
    const raw: Record<string, string> = {};
    let bytesRead = 0;
    /** Bytes given to the parser before the write it is parsing now: a part starting in it has at most `declared - fed`. */
    let fed = 0;
    let settled = false;
    let parsed = false; // the parser has seen the closing boundary
    let chunk: ReceivedChunk | undefined;
    let receiving: ChunkReceiver | undefined; // the chunk part, until it is complete
    let fields = 0;
    let files = 0;

    const onData = (data: Buffer): void => {
      bytesRead += data.length;
      if (bytesRead > l.maxBodyBytes) return fail(bodyTooLarge(l.maxBodyBytes));
      if (parsed) return; // an epilogue after the closing boundary: read past
      feed.write(data);
    };
    const onEnd = (): void => {
      if (settled) return;
      if (!parsed) feed.end();
      if (!parsed) fail(truncated());
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

    /** A text field: its pieces kept (views of the socket's) until its end, within maxFieldBytes. */
    const fieldPart = (info: Multipasta.PartInfo): PartSink => {
      // Most fields are one piece: an array only for the others.
      let first: Uint8Array | undefined;
      let more: Uint8Array[] | undefined;
      let size = 0;
      return (piece) => {
        if (settled) return;
        if (piece !== null) {
          size += piece.length;
          if (size > l.maxFieldBytes) return fail(fieldTooLarge(info.name, l.maxFieldBytes));
          if (first === undefined) first = piece;
          else (more ??= [first]).push(piece);
          return;
        }
        const bytes = more ? Buffer.concat(more, size) : (first ?? EMPTY);
        const charset = info.contentTypeParameters.charset;
        // UTF-8 (ET's every field) straight from the bytes: TextDecoder costs more for short values.
        const value = charset === undefined || UTF8.test(charset) ? utf8(bytes) : Multipasta.decodeField(info, bytes);
        if (info.name !== CHUNK_FIELD) {
          raw[info.name] = value;
          return;
        }
        // A chunk sent as a text part (curl -F chunk=text): in memory, as UTF-8.
        if (chunk || receiving) return fail(secondChunk());
        const buffer = ownBufferFrom(value);
        chunk = { buffer, size: buffer.length, mimeType: info.contentType };
      };
    };

    const openPart = (info: Multipasta.PartInfo): PartSink => {
      if (settled) return ignorePart;
      if (info.filename === undefined) {
        if (++fields > l.maxFields) {
          fail(tooManyFields(l.maxFields));
          return ignorePart;
        }
        return fieldPart(info);
      }
      if (++files > l.maxFields) {
        fail(new ProtocolError(413, `request has more than ${l.maxFields} file parts`));
        return ignorePart;
      }
      // Only `chunk` is a file in the protocol; other file parts are read past and dropped.
      if (info.name !== CHUNK_FIELD) return ignorePart;
      if (chunk || receiving) {
        fail(secondChunk());
        return ignorePart;
      }
      // The part ends before the body does: with a Content-Length, its size has a bound.
      const bound = declared < 0 || spillAtOnce ? undefined : declared - fed;
      const flow = { pause: () => req.pause(), resume: () => settled || req.resume() };
      receiving = new ChunkReceiver(unquoteFilename(info), info.contentType, l, spillAtOnce, bound, raw, flow, setChunk, fail, pool);
      return receiving.write;
    };

    const parser = Multipasta.make({
      headers: { 'content-type': req.headers['content-type'] ?? '' },
      // Every part comes through openPart, which tells fields from files (by filename, as busboy
      // did) and bounds each field by its own name.
      isFile: () => true,
      onFile: openPart,
      onField: () => undefined, // never called: every part is a "file" (isFile)
      onError: (err) => {
        if (!parsed) fail(multipartError(err));
      },
      onDone: () => {
        parsed = true;
        succeed();
      },
    });
    if (settled) return; // no boundary: refused by make() itself
    const feed = new MultipartFeed(
      {
        write: (data) => {
          parser.write(data);
          fed += data.length;
        },
        end: () => parser.end(),
      },
      2 + boundaryOf(req.headers['content-type']).length,
    );

    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onReqError);
    req.on('close', onReqClose);
  });
}

/** The boundary parameter's value ('' when there is none: the parser has refused the body then). */
function boundaryOf(contentType: string | undefined): string {
  const match = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType ?? '');
  return match ? (match[1] ?? match[2]) : '';
}

function secondChunk(): ProtocolError {
  return new ProtocolError(400, 'multipart body has more than one "chunk" part; send one chunk per request', {
    field: CHUNK_FIELD,
  });
}

function truncated(): ProtocolError {
  return new ProtocolError(400, 'multipart body is truncated: it ended before the closing boundary; check the Content-Length and that the client sent the whole body');
}

function multipartError(err: Multipasta.MultipartError): ProtocolError {
  switch (err._tag) {
    case 'InvalidBoundary':
      return new ProtocolError(400, 'multipart/form-data request has no boundary: its Content-Type must name one (multipart/form-data; boundary=...)');
    case 'EndNotReached':
      return truncated();
    case 'BadHeaders':
      return new ProtocolError(400, `multipart body is malformed: a part's headers are invalid (${err.error.reason})`);
    case 'InvalidDisposition':
      return new ProtocolError(400, "multipart body is malformed: a part's Content-Disposition has no name");
    case 'ReachedLimit':
      return new ProtocolError(413, `multipart body is past a limit (${err.limit})`);
  }
}

/**
 * From this size of bound on, the chunk's buffer is allocated once, at the part's bound, and each
 * piece is copied into it as it arrives; below it, a chunk is often one piece of the socket's read
 * (taken as it is) and the pieces are joined at the end.
 */
export const PREALLOCATE_FROM = 128 * 1024;

/** A buffer allocated at the bound but filled by less than this share is copied to its size, not kept. */
const KEEP_FILLED = 0.75;

/**
 * The `chunk` file part: in memory while it fits in `memoryChunkBytes`; past that, a temp file is
 * opened, what was buffered is written to it, and the rest streams there. The request is paused
 * whenever the file stream's buffer is full (and while the file opens), so the socket stops too.
 *
 * In memory, each byte is copied once between the socket and the chunk's buffer: with a
 * Content-Length the part has a bound (`bound`), the buffer is allocated at it and every piece is
 * copied in as it arrives, so the socket's pieces die young instead of waiting, all of them, for a
 * join at the end (the garbage collector's work at 4 MiB chunks). Without a bound (chunked
 * transfer), or when the part outgrows it, the pieces are kept and joined once at the end.
 */
class ChunkReceiver {
  /** Pieces held in memory, when there is no preallocated buffer (or it was outgrown). */
  private parts: Buffer[] = [];
  /** The chunk's buffer, allocated at the part's bound; `size` bytes of it are filled. */
  private into?: Buffer;
  private size = 0;
  private out?: fs.WriteStream;
  /** Why the chunk did not go to the task's own taskTmpDir. */
  private warning?: string;
  private file?: string;
  private opening?: Promise<void>;
  private ended = false;
  private discarded = false;

  constructor(
    private readonly filename: string | undefined,
    private readonly mimeType: string,
    private readonly limits: BodyLimits,
    private readonly spillAtOnce: boolean,
    bound: number | undefined,
    private readonly raw: Record<string, string>,
    /** Pauses and resumes the request: the spill's backpressure. */
    private readonly flow: { pause(): void; resume(): void },
    private readonly done: (chunk: ReceivedChunk) => void,
    private readonly fail: (err: ProtocolError) => void,
    private readonly pool?: ChunkPool,
  ) {
    // Memory of its own (allocUnsafeSlow, never Node's shared pool): a task's msg.payload shares
    // its ArrayBuffer with no other live buffer. Or pooled memory, lent to this chunk alone.
    if (bound !== undefined && bound >= PREALLOCATE_FROM && bound <= limits.memoryChunkBytes) {
      this.into = pool ? pool.take(bound) : Buffer.allocUnsafeSlow(bound);
      this.pooled = pool !== undefined;
    }
  }

  /** `into` is the pool's memory. */
  private pooled = false;

  /** The part's bytes as the parser finds them (views of the socket's pieces), then null at its end. */
  write = (piece: Uint8Array | null): void => {
    if (piece === null) this.onEnd();
    else this.onData(piece);
  };

  private onData(piece: Uint8Array): void {
    if (this.discarded) return;
    const data = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length);
    const at = this.size;
    this.size += data.length;
    if (this.out) {
      if (!this.out.write(data)) this.flow.pause();
      return;
    }
    const into = this.into;
    if (into && this.size <= into.length) {
      into.set(data, at);
    } else {
      if (into) {
        // Bigger than its bound (cannot happen with Node's parser, which stops at Content-Length): held as pieces from here.
        this.parts.push(into.subarray(0, at));
        this.into = undefined;
      }
      this.parts.push(data);
    }
    if (this.opening === undefined && (this.spillAtOnce || this.size > this.limits.memoryChunkBytes)) {
      this.flow.pause();
      this.opening = this.openSpill();
    }
  }

  /** What is held in memory, as pieces, and no longer held here. */
  private takeHeld(): Buffer[] {
    const held = this.into ? [this.into.subarray(0, this.size)] : this.parts;
    this.into = undefined;
    this.parts = [];
    return held;
  }

  private onEnd(): void {
    this.ended = true;
    if (this.discarded || this.opening !== undefined) {
      // A spill: finished once the file is open (openSpill) and flushed (finishSpill).
      if (this.out) this.finishSpill();
      return;
    }
    const into = this.into;
    let buffer: Buffer;
    if (into && this.pooled) {
      this.into = undefined;
      return this.done({ buffer: this.pool!.finish(into, this.size), pooled: true, size: this.size, filename: this.filename, mimeType: this.mimeType });
    }
    if (into) {
      this.into = undefined;
      // The bound counted the closing boundary and any parts after the chunk: a short tail is
      // zeroed (no stale bytes, maybe another task's, behind msg.payload.buffer), a long one is
      // not kept at all.
      if (this.size >= into.length * KEEP_FILLED) buffer = into.fill(0, this.size).subarray(0, this.size);
      else into.copy((buffer = Buffer.allocUnsafeSlow(this.size)), 0, 0, this.size);
    } else {
      buffer = joinParts(this.parts, this.size);
      this.parts = [];
    }
    this.done({ buffer, size: this.size, filename: this.filename, mimeType: this.mimeType });
  }

  private async openSpill(): Promise<void> {
    let dir = '';
    try {
      const choice = await spillDir(this.limits, this.raw);
      dir = choice.dir;
      this.warning = choice.warning;
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
      out.on('drain', () => this.flow.resume());
      let ok = true;
      for (const part of this.takeHeld()) ok = out.write(part);
      if (this.ended) this.finishSpill();
      else if (ok) this.flow.resume();
    } catch (err) {
      this.fail(writeError(dir, err as Error));
    }
  }

  private finishSpill(): void {
    const out = this.out!;
    out.end();
    out.once('close', () => {
      if (this.discarded || out.errored) return;
      const chunk: ReceivedChunk = { path: this.file, size: this.size, filename: this.filename, mimeType: this.mimeType, ...(this.warning ? { warning: this.warning } : {}) };
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
    // Pooled memory no flow has seen, and no spill is writing from: straight back to the pool.
    const lent = this.pooled && this.opening === undefined ? this.into : undefined;
    this.takeHeld();
    if (lent) this.pool!.reclaim(lent);
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
