// A streaming multipart/form-data parser (RFC 7578, the body syntax of RFC 2046 §5.1): the
// /process body Engine Toolkit posts, ~30 short text parts and one `chunk` part.
//
// Why not a library: busboy, multipasta, @fastify/busboy and @indutny/dicer all parse each part's
// headers byte by byte in JavaScript (and busboy wraps each part in a Readable); on ET's 30-part
// form that is 100-280 µs a body before the chunk's bytes count, the biggest single cost of a
// 64 KiB task (docs/performance.md). Here every search is a native
// `Buffer#indexOf` (the delimiter, the end of a part's headers) and a part's header block is read
// as one string: ~40 µs for the same form.
//
// The parser only splits: a part's bytes go to its sink as views of the pieces written (no copy),
// then null at its end. What a part may be (fields, the chunk, limits) is for the caller.
import { Buffer } from 'node:buffer';

/** What the headers of a part say. */
export interface PartInfo {
  /** The Content-Disposition's `name`. */
  readonly name: string;
  /** `filename*` (RFC 5987, decoded) or `filename`, undefined when there is neither: the part is a field. */
  readonly filename: string | undefined;
  /** The Content-Type's media type, lower case; when there is none, text/plain for a field and application/octet-stream for a file (RFC 7578 §4.4). */
  readonly contentType: string;
  /** The Content-Type's `charset` parameter, when it names one. */
  readonly charset: string | undefined;
}

/** A part's bytes as they arrive (views of the written pieces), then null at its end. */
export type PartSink = (piece: Buffer | null) => void;

/** Why a body is not multipart/form-data, in words that can follow "multipart body is malformed: ". */
export type Malformed = string;

export interface MultipartEvents {
  /** A part's headers were read: where its bytes go. */
  onPart(info: PartInfo): PartSink;
  /** The closing delimiter was read (what follows it, the epilogue, is ignored). */
  onDone(): void;
  /** The body is malformed; nothing more is reported. */
  onError(reason: Malformed): void;
}

/** A part's header block may be this long (multipasta's and busboy's bound too). */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Transport padding (spaces and tabs) allowed after a delimiter. */
const MAX_PADDING = 256;

const CR = 0x0d;
const DASH = 0x2d;
const SP = 0x20;
const HT = 0x09;
const HEADERS_END = Buffer.from('\r\n\r\n', 'latin1');

const enum State {
  /** Before the first delimiter: a preamble, read past. */
  Preamble,
  /** Right after a delimiter: `--` (the close), or padding and the CR LF that opens a part's headers. */
  AfterDelimiter,
  /** After a delimiter's `-`: the second `-` of the close. */
  Closing,
  /** Transport padding after a delimiter, up to its CR LF. */
  Padding,
  /** A part's header block, from the CR LF that ends its delimiter line to the blank line. */
  Headers,
  /** A part's bytes, up to the next delimiter. */
  Body,
  Done,
  Failed,
}

/** The boundary parameter of a multipart Content-Type, or undefined when it names none. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  const match = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType ?? '');
  const boundary = match ? (match[1] ?? match[2]) : '';
  return boundary === '' ? undefined : boundary;
}

export class MultipartParser {
  /** `\r\n--boundary`: what ends a part. */
  private readonly delimiter: Buffer;
  /** `--boundary`: how a body without a preamble opens. */
  private readonly opening: Buffer;
  private state = State.Preamble;
  /** Nothing has been read yet: the body may open with the delimiter's line, without its CR LF. */
  private atStart = true;
  /** Bytes not yet consumed, read again in front of the next piece (a delimiter cut by the socket, a header block in two pieces). */
  private held?: Buffer;
  private padding = 0;
  private sink?: PartSink;

  constructor(
    boundary: string,
    private readonly events: MultipartEvents,
  ) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    this.opening = this.delimiter.subarray(2);
  }

  /** The closing delimiter has been read. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** Parses `piece`: part sinks get views of it (or of a copy joined to held bytes); the parser keeps none once this returns. */
  write(piece: Buffer): void {
    if (this.state === State.Done || this.state === State.Failed) return;
    // Held bytes are rare (a piece ending in what may start a delimiter, a header block cut in
    // two), so joining them to the next piece, a copy, is too.
    const held = this.held;
    this.held = undefined;
    this.parse(held ? Buffer.concat([held, piece]) : piece);
  }

  private parse(buf: Buffer): void {
    let pos = 0;
    while (pos < buf.length) {
      switch (this.state) {
        case State.Preamble: {
          if (this.atStart) {
            const have = Math.min(buf.length - pos, this.opening.length);
            if (buf.compare(this.opening, 0, have, pos, pos + have) === 0) {
              if (have < this.opening.length) return this.hold(buf, pos);
              this.atStart = false;
              pos += this.opening.length;
              this.state = State.AfterDelimiter;
              continue;
            }
            this.atStart = false;
          }
          const at = buf.indexOf(this.delimiter, pos);
          if (at < 0) return this.hold(buf, this.delimiterPrefixAt(buf, pos));
          pos = at + this.delimiter.length;
          this.state = State.AfterDelimiter;
          continue;
        }
        case State.AfterDelimiter: {
          const byte = buf[pos];
          if (byte === DASH) {
            pos++;
            this.state = State.Closing;
          } else if (byte === CR) {
            this.state = State.Headers; // the CR LF is the header block's first line end
          } else if (byte === SP || byte === HT) {
            this.padding = 0;
            this.state = State.Padding;
          } else {
            return this.fail('a boundary line is not followed by CR LF');
          }
          continue;
        }
        case State.Closing: {
          if (buf[pos] !== DASH) return this.fail('a boundary line is not followed by CR LF');
          this.state = State.Done;
          this.events.onDone();
          return;
        }
        case State.Padding: {
          const byte = buf[pos];
          if (byte === CR) {
            this.state = State.Headers;
          } else if ((byte === SP || byte === HT) && ++this.padding <= MAX_PADDING) {
            pos++;
          } else {
            return this.fail('a boundary line is not followed by CR LF');
          }
          continue;
        }
        case State.Headers: {
          // From the CR LF ending the delimiter's line: an empty header block ends right there.
          const end = buf.indexOf(HEADERS_END, pos);
          if (end < 0) {
            if (buf.length - pos > MAX_HEADER_BYTES) return this.fail(`a part's headers are longer than ${MAX_HEADER_BYTES} bytes`);
            return this.hold(buf, pos);
          }
          if (end - pos > MAX_HEADER_BYTES) return this.fail(`a part's headers are longer than ${MAX_HEADER_BYTES} bytes`);
          if (buf[pos + 1] !== 0x0a) return this.fail('a boundary line is not followed by CR LF');
          const info = partInfo(end === pos ? '' : buf.toString('utf8', pos + 2, end));
          if (typeof info === 'string') return this.fail(info);
          pos = end + HEADERS_END.length;
          this.state = State.Body;
          this.sink = this.events.onPart(info);
          continue;
        }
        case State.Body: {
          const sink = this.sink!;
          const at = buf.indexOf(this.delimiter, pos);
          if (at < 0) {
            const keep = this.delimiterPrefixAt(buf, pos);
            this.hold(buf, keep);
            if (keep > pos) sink(buf.subarray(pos, keep));
            return;
          }
          this.sink = undefined;
          this.state = State.AfterDelimiter;
          if (at > pos) sink(buf.subarray(pos, at));
          if (this.stopped) return;
          sink(null);
          pos = at + this.delimiter.length;
          continue;
        }
        default:
          return;
      }
    }
  }

  /**
   * Where in `buf` (from `from` on) a delimiter may start that the piece cuts short: the first
   * CR among its last delimiter-length bytes whose tail is a prefix of the delimiter, else its end.
   */
  private delimiterPrefixAt(buf: Buffer, from: number): number {
    const d = this.delimiter;
    let at = buf.indexOf(CR, Math.max(from, buf.length - d.length + 1));
    while (at >= 0) {
      if (buf.compare(d, 0, buf.length - at, at) === 0) return at;
      at = buf.indexOf(CR, at + 1);
    }
    return buf.length;
  }

  /** Reads nothing more, reports nothing more: the caller has refused the body. */
  stop(): void {
    this.state = State.Failed;
    this.held = undefined;
    this.sink = undefined;
  }

  /** Stopped or failed (a getter: the state may change in a callback). */
  private get stopped(): boolean {
    return this.state === State.Failed;
  }

  /** Keeps the bytes from `from` on for the next piece: a copy (at most a header block), so no view of a piece outlives its write. */
  private hold(buf: Buffer, from: number): void {
    if (from < buf.length) this.held = Buffer.from(buf.subarray(from));
  }

  private fail(reason: Malformed): void {
    this.stop();
    this.events.onError(reason);
  }
}

/** `; name=value` and `; name="quoted \"value\""` parameters, one at a time from lastIndex (sticky). */
const PARAM = /\s*;\s*([^\s=;]+)\s*=\s*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^;]*))/y;

function parameters(value: string, from: number): Map<string, string> | undefined {
  const params = new Map<string, string>();
  PARAM.lastIndex = from;
  while (PARAM.lastIndex < value.length) {
    const at = PARAM.lastIndex;
    const match = PARAM.exec(value);
    if (match === null) {
      // Trailing white space or a lone ';' is tolerated; anything else is not a parameter.
      return /^[\s;]*$/.test(value.slice(at)) ? params : undefined;
    }
    const quoted = match[2];
    // Quoted as Go's multipart writer quotes (`\"` and `\\`): unquoted back.
    params.set(match[1].toLowerCase(), quoted === undefined ? match[3].trim() : quoted.includes('\\') ? quoted.replace(/\\(.)/g, '$1') : quoted);
  }
  return params;
}

/** RFC 5987's `charset'lang'percent-encoded` (only UTF-8, as RFC 7578 says senders use). */
function extendedValue(value: string): string | undefined {
  const match = /^utf-8'[^']*'(.*)$/i.exec(value);
  if (!match) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

/** `Content-Disposition: form-data; name="..."` alone, with no quoted pair in the name. */
const GO_FIELD = /^Content-Disposition: form-data; name="([^"\\]*)"$/;
// The two line patterns have no two quantifiers that can share a character: linear on any input.
// (`:[ \t]*(.*?)[ \t]*` would trim in the pattern, and take ~1 s of backtracking on a 16 KiB run of
// spaces that ends in a lone CR.) Values are trimmed by the code.
/** A header line: its name, its value, and its line end (sticky). */
const HEADER_LINE = /([!#$%&'*+.^\w`|~-]+):([^\r\n]*)(?:\r\n|$)/y;
/** An obsolete folded line: it continues the header before it. */
const FOLDED_LINE = /[ \t]([^\r\n]*)(?:\r\n|$)/y;

/** A part's header block (its lines, CR LF between them) as PartInfo, or why it cannot be one. */
function partInfo(block: string): PartInfo | Malformed {
  // How Go's multipart writer heads a field (CreateFormField): the common case, read at once.
  const field = GO_FIELD.exec(block);
  if (field !== null) return { name: field[1], filename: undefined, contentType: 'text/plain', charset: undefined };
  let disposition: string | undefined;
  let type: string | undefined;
  let last = '';
  let pos = 0;
  while (pos < block.length) {
    HEADER_LINE.lastIndex = pos;
    const line = HEADER_LINE.exec(block);
    if (line !== null) {
      pos = HEADER_LINE.lastIndex;
      last = line[1].toLowerCase();
      if (last === 'content-disposition') disposition = line[2].trim();
      else if (last === 'content-type') type = line[2].trim();
      continue;
    }
    FOLDED_LINE.lastIndex = pos;
    const folded = FOLDED_LINE.exec(block);
    if (folded === null || pos === 0) {
      const end = block.indexOf('\r\n', pos);
      return `a part's headers are invalid (${JSON.stringify(block.slice(pos, end < 0 ? undefined : end).slice(0, 60))} is not a header)`;
    }
    pos = FOLDED_LINE.lastIndex;
    if (last === 'content-disposition') disposition += ` ${folded[1].trim()}`;
    else if (last === 'content-type') type += ` ${folded[1].trim()}`;
  }
  if (disposition === undefined) return 'a part has no Content-Disposition';
  const semi = disposition.indexOf(';');
  const params = semi < 0 ? undefined : parameters(disposition, semi);
  const name = params?.get('name');
  if (name === undefined) return "a part's Content-Disposition has no name";
  const extended = params!.get('filename*');
  const filename = (extended === undefined ? undefined : extendedValue(extended)) ?? params!.get('filename');
  let contentType = filename === undefined ? 'text/plain' : 'application/octet-stream';
  let charset: string | undefined;
  if (type !== undefined && type !== '') {
    const typeSemi = type.indexOf(';');
    contentType = (typeSemi < 0 ? type : type.slice(0, typeSemi)).trim().toLowerCase();
    if (typeSemi >= 0) charset = parameters(type, typeSemi)?.get('charset');
  }
  return { name, filename, contentType, charset };
}
