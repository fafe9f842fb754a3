// The multipart/form-data body Engine Toolkit posts to /process: every string field,
// then the file part `chunk` with its filename and Content-Type. ET is written in Go, so this
// follows Go's mime/multipart writer: a 60-hex-digit boundary, CRLF line ends, names quoted with
// backslash escapes, and no Content-Type on the string fields.
import { randomBytes } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';

/** The name of the file part ET posts the chunk in. */
export const CHUNK_PART = 'chunk';

/** Content-Type of the chunk part when none is given. */
export const DEFAULT_CHUNK_MIME_TYPE = 'application/octet-stream';

/** A chunk held in memory. */
export interface ChunkData {
  data: Buffer;
  /** Default `chunk`. */
  filename?: string;
  /** Default `application/octet-stream`. */
  mimeType?: string;
}

/** A chunk read from disk as the body is sent. */
export interface ChunkFile {
  path: string;
  /** Default: the file's base name. */
  filename?: string;
  /** Default `application/octet-stream`. */
  mimeType?: string;
}

export interface EncodedMultipart {
  body: Buffer;
  contentType: string;
}

export interface MultipartStream {
  stream: Readable;
  contentType: string;
  /** The exact byte length of what `stream` yields: send it as Content-Length. */
  length: number;
}

const CRLF = '\r\n';

// Go's multipart.Writer draws 30 random bytes and prints them in hex.
function newBoundary(): string {
  return randomBytes(30).toString('hex');
}

// Go's quoteEscaper: backslash and double quote are escaped; a line break cannot be sent at all.
function quote(text: string, what: string): string {
  if (/[\r\n]/.test(text)) throw new TypeError(`multipart ${what} must not contain a line break: ${JSON.stringify(text)}`);
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

function fieldParts(fields: Record<string, string>, boundary: string): string {
  let text = '';
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    text += `--${boundary}${CRLF}Content-Disposition: form-data; name="${quote(name, 'field name')}"${CRLF}${CRLF}${value}${CRLF}`;
  }
  return text;
}

function chunkHeader(boundary: string, filename: string, mimeType: string): string {
  if (/[\r\n]/.test(mimeType)) throw new TypeError(`chunk MIME type must not contain a line break: ${JSON.stringify(mimeType)}`);
  return `--${boundary}${CRLF}` + `Content-Disposition: form-data; name="${CHUNK_PART}"; filename="${quote(filename, 'filename')}"${CRLF}` + `Content-Type: ${mimeType}${CRLF}${CRLF}`;
}

function closing(boundary: string): string {
  return `--${boundary}--${CRLF}`;
}

function contentTypeFor(boundary: string): string {
  return `multipart/form-data; boundary=${boundary}`;
}

// A boundary that occurs in the content would cut it short. With 240 random bits this loop
// practically never turns twice, but checking what is in memory costs little.
function pickBoundary(fields: Record<string, string>, data?: Buffer): string {
  for (;;) {
    const boundary = newBoundary();
    const delimiter = `--${boundary}`;
    if (Object.values(fields).some((value) => value?.includes(delimiter))) continue;
    if (data?.includes(delimiter)) continue;
    return boundary;
  }
}

/** Builds the whole /process body in memory. */
export function encodeMultipart(fields: Record<string, string>, chunk?: ChunkData): EncodedMultipart {
  const boundary = pickBoundary(fields, chunk?.data);
  const parts: Buffer[] = [Buffer.from(fieldParts(fields, boundary), 'utf8')];
  if (chunk) {
    parts.push(Buffer.from(chunkHeader(boundary, chunk.filename ?? CHUNK_PART, chunk.mimeType ?? DEFAULT_CHUNK_MIME_TYPE), 'utf8'));
    parts.push(chunk.data, Buffer.from(CRLF));
  }
  parts.push(Buffer.from(closing(boundary)));
  return { body: Buffer.concat(parts), contentType: contentTypeFor(boundary) };
}

/**
 * The same body as a stream that reads the chunk from disk as it is sent, so a file of any size
 * posts in constant memory. `length` comes from the file's size now; the stream never yields more
 * than that, so a file that grows meanwhile is cut at its size (one that shrinks ends the body short
 * and the receiver sees a truncated request). Throws at once when the file is missing.
 */
export function multipartStream(fields: Record<string, string>, chunk: ChunkFile): MultipartStream {
  const stats = statSync(chunk.path);
  if (!stats.isFile()) throw new TypeError(`chunk ${chunk.path} is not a regular file`);
  const size = stats.size;
  const boundary = pickBoundary(fields);
  const head = Buffer.from(fieldParts(fields, boundary) + chunkHeader(boundary, chunk.filename ?? basename(chunk.path), chunk.mimeType ?? DEFAULT_CHUNK_MIME_TYPE), 'utf8');
  const tail = Buffer.from(CRLF + closing(boundary));
  const path = chunk.path;

  // The file is opened only when the stream is first read, and closed with it.
  async function* parts(): AsyncGenerator<Buffer> {
    yield head;
    if (size > 0) {
      for await (const data of createReadStream(path, { start: 0, end: size - 1, highWaterMark: 256 * 1024 })) {
        yield data as Buffer;
      }
    }
    yield tail;
  }

  return {
    stream: Readable.from(parts(), { objectMode: false }),
    contentType: contentTypeFor(boundary),
    length: head.length + size + tail.length,
  };
}
