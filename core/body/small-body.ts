// application/json and application/x-www-form-urlencoded bodies, read whole within their limit by
// the reader (../http/read-bounded), turned into fields and an in-memory chunk here.
import { ProtocolError, jsonProblem } from '../protocol/errors';
import { CHUNK_FIELD, JSON_TYPE, fieldTooLarge, tooManyFields, type BodyLimits } from './limits';
import type { ReceivedBody } from './received';
import { ownBufferFrom } from '../util/own-buffer';

export function fromSmallBody(type: string, body: Buffer, l: BodyLimits): ReceivedBody {
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
      throw new ProtocolError(400, `application/json body is not JSON: ${jsonProblem(err)}`);
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
  const buffer = ownBufferFrom(chunkText);
  return { raw, chunk: { buffer, size: buffer.length }, bytesRead: body.length };
}
