// multipart/form-data as Engine Toolkit sends it (Go's multipart writer), read with busboy: text
// fields bounded one by one, and the `chunk` file part in memory up to `memoryChunkBytes`, past
// that streamed to a temp file with backpressure all the way back to the socket.
import type * as http from 'node:http';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { ProtocolError } from './errors';
import { CHUNK_FIELD, bodyTooLarge, disconnected, fieldTooLarge, tooManyFields, type BodyLimits } from './body-limits';
import { removeQuietly, spillDir, tempName, writeError } from './chunk-file';
import type { ReceivedBody, ReceivedChunk } from './body';

/**
 * `spillAtOnce`: the declared body is bigger than memoryChunkBytes, so the chunk will not stay in
 * memory: it goes to disk from its first byte rather than after buffering memoryChunkBytes.
 */
export function readMultipart(req: http.IncomingMessage, l: BodyLimits, spillAtOnce: boolean): Promise<ReceivedBody> {
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
    return new ProtocolError(400, `multipart body is truncated: it ended before the closing boundary (${text.toLowerCase()}); check the Content-Length and that the client sent the whole body`);
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
  /** Why the chunk did not go to the task's own taskTmpDir. */
  private warning?: string;
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
