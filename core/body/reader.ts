// The reader of a /process request body: multipart/form-data as Engine Toolkit sends it,
// urlencoded and JSON for curl and tests. Nothing here buffers without a bound: the chunk stays in
// memory up to `memoryChunkBytes` and streams to a temp file past it (./multipart); small bodies
// are read whole within their limit (./small-body).
import type * as http from 'node:http';
import { ProtocolError } from '../protocol/errors';
import { DEFAULT_LIMITS, JSON_TYPE, MULTIPART, URLENCODED, resolveLimits, smallBodyTooLarge, type BodyLimits } from './limits';
import { contentLength, mediaType } from '../http/headers';
import type { ChunkPool } from './chunk-pool';
import { readMultipart } from './multipart';
import type { ReceivedBody } from './received';
import { fromSmallBody } from './small-body';
import { bodyTooLarge, readBounded } from '../http/read-bounded';

export type { ReceivedBody, ReceivedChunk } from './received';

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
export function readProcessBody(req: http.IncomingMessage, limits?: Partial<BodyLimits>, pool?: ChunkPool): Promise<ReceivedBody> {
  const l = limits === undefined ? DEFAULT_LIMITS : resolveLimits(limits);
  const type = mediaType(req.headers['content-type']);
  if (type !== MULTIPART && type !== URLENCODED && type !== JSON_TYPE) {
    return Promise.reject(
      new ProtocolError(
        415,
        `unsupported content type ${type === '' ? '(none)' : JSON.stringify(type.slice(0, 100))}; ` + 'send multipart/form-data, application/x-www-form-urlencoded or application/json',
      ),
    );
  }
  const declared = contentLength(req);
  if (declared > l.maxBodyBytes) return Promise.reject(bodyTooLarge(l.maxBodyBytes));
  if (type === MULTIPART) return readMultipart(req, l, declared, pool);
  const limit = Math.min(l.memoryChunkBytes, l.maxBodyBytes);
  if (declared > limit) return Promise.reject(smallBodyTooLarge(type, limit));
  return readBounded(req, limit, { tooLarge: () => smallBodyTooLarge(type, limit) }).then((body) => fromSmallBody(type, body, l));
}
