// The /process body: the media types it may have, its limits, and the errors a body past them is
// refused with.
import { ProtocolError } from '../protocol/errors';

export const MULTIPART = 'multipart/form-data';
export const URLENCODED = 'application/x-www-form-urlencoded';
export const JSON_TYPE = 'application/json';
export const CHUNK_FIELD = 'chunk';

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
  /** More folders a request's `taskTmpDir` may be inside, beside the OS temp folder, /tmp and /cache. */
  tmpDirRoots?: string[];
}

export const DEFAULT_LIMITS: Readonly<BodyLimits> = Object.freeze({
  maxBodyBytes: 4 * 1024 * 1024 * 1024,
  memoryChunkBytes: 8 * 1024 * 1024,
  maxFieldBytes: 1024 * 1024,
  maxFields: 1000,
});

/** Each limit from `limits` when set, else its default (an explicit `undefined` counts as unset). */
export function resolveLimits(limits: Partial<BodyLimits>): BodyLimits {
  return {
    maxBodyBytes: limits.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes,
    memoryChunkBytes: limits.memoryChunkBytes ?? DEFAULT_LIMITS.memoryChunkBytes,
    maxFieldBytes: limits.maxFieldBytes ?? DEFAULT_LIMITS.maxFieldBytes,
    maxFields: limits.maxFields ?? DEFAULT_LIMITS.maxFields,
    tmpDir: limits.tmpDir || undefined,
    tmpDirRoots: limits.tmpDirRoots,
  };
}

export function smallBodyTooLarge(type: string, limit: number): ProtocolError {
  return new ProtocolError(413, `${type} body is larger than ${limit} bytes; send big chunks as multipart/form-data`);
}

export function fieldTooLarge(name: string, limit: number): ProtocolError {
  return new ProtocolError(413, `field ${JSON.stringify(name)} is larger than ${limit} bytes`, { field: name });
}

export function tooManyFields(limit: number): ProtocolError {
  return new ProtocolError(413, `request has more than ${limit} fields`);
}
