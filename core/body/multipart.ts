// multipart/form-data as Engine Toolkit sends it (Go's multipart writer), read with the pack's own
// parser (./multipart-parser: native searches, no per-part streams): text fields bounded one by
// one, and the `chunk` file part handed to a ChunkReceiver (./chunk-receiver): in memory up to
// `memoryChunkBytes`, past that streamed to a temp file with backpressure back to the socket.
import type * as http from 'node:http';
import { ProtocolError } from '../protocol/errors';
import { CHUNK_FIELD, fieldTooLarge, tooManyFields, type BodyLimits } from './limits';
import { bodyTooLarge, disconnected } from '../http/read-bounded';
import { removeQuietly } from './chunk-file';
import { ownBufferFrom } from '../util/own-buffer';
import type { ReceivedBody, ReceivedChunk } from './received';
import type { ChunkPool } from './chunk-pool';
import { decoderFor } from './chunk-text';
import { FREES_EARLY, PieceUses } from './early-free';
import { MultipartParser, boundaryOf, type PartInfo, type PartSink } from './multipart-parser';
import { ChunkReceiver } from './chunk-receiver';

/** A part read past: a file part other than `chunk`, or any part after the body was refused. */
const ignorePart: PartSink = () => undefined;

const EMPTY = Buffer.alloc(0);

/** A field's bytes as text: UTF-8 (ET's every field) straight from the bytes, another charset by its TextDecoder. */
function fieldText(bytes: Buffer, charset: string | undefined): string {
  const decoder = charset === undefined ? null : decoderFor(charset.toLowerCase());
  return decoder ? decoder.decode(bytes) : bytes.toString();
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
    let chunk: ReceivedChunk | undefined;
    let receiving: ChunkReceiver | undefined; // the chunk part, until it is complete
    let fields = 0;
    let files = 0;

    /** The piece being parsed, when its memory may be freed early (core/body/early-free.ts). */
    let uses: PieceUses | undefined;
    /** The part open now is a field holding views of the pieces it came in. */
    let fieldHolds = false;
    const piece = (): PieceUses | undefined => uses;

    const onData = (data: Buffer): void => {
      bytesRead += data.length;
      if (bytesRead > l.maxBodyBytes) return fail(bodyTooLarge(l.maxBodyBytes));
      if (parser.done) return; // an epilogue after the closing boundary: read past
      // Freed early only when no other listener has the piece too.
      const own = FREES_EARLY && req.listenerCount('data') === 1 ? new PieceUses(data) : undefined;
      uses = own;
      parser.write(data);
      uses = undefined;
      if (own) {
        if (fieldHolds) own.keep();
        own.end();
      }
      fed += data.length;
    };
    const onEnd = (): void => {
      if (!parser.done) fail(truncated());
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
      parser.stop();
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
      if (settled || !parser.done || receiving) return;
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
    const fieldPart = (info: PartInfo): PartSink => {
      // Most fields are one piece: an array only for the others.
      let first: Buffer | undefined;
      let more: Buffer[] | undefined;
      let size = 0;
      return (piece) => {
        if (settled) return;
        if (piece !== null) {
          size += piece.length;
          if (size > l.maxFieldBytes) return fail(fieldTooLarge(info.name, l.maxFieldBytes));
          if (first === undefined) first = piece;
          else (more ??= [first]).push(piece);
          fieldHolds = true;
          return;
        }
        fieldHolds = false;
        const bytes = more ? Buffer.concat(more, size) : (first ?? EMPTY);
        const value = fieldText(bytes, info.charset);
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

    const openPart = (info: PartInfo): PartSink => {
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
      receiving = new ChunkReceiver(info.filename, info.contentType, l, spillAtOnce, bound, raw, flow, setChunk, fail, piece, pool);
      return receiving.write;
    };

    const boundary = boundaryOf(req.headers['content-type']);
    if (boundary === undefined) {
      settled = true;
      return reject(new ProtocolError(400, 'multipart/form-data request has no boundary: its Content-Type must name one (multipart/form-data; boundary=...)'));
    }
    // Every part comes through openPart, which tells fields from files (by filename, as busboy
    // does) and bounds each field by its own name.
    const parser = new MultipartParser(boundary, {
      onPart: openPart,
      onDone: succeed,
      onError: (reason) => fail(new ProtocolError(400, `multipart body is malformed: ${reason}`)),
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

function truncated(): ProtocolError {
  return new ProtocolError(400, 'multipart body is truncated: it ended before the closing boundary; check the Content-Length and that the client sent the whole body');
}
