// A chunk's bytes as the flow gets them: text MIME types decoded by their charset, anything
// else left as a Buffer.
import { mediaType } from '../http/headers';

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
  return type.startsWith('text/') || TEXT_APPLICATION_TYPES.has(type) || type.endsWith('+json') || type.endsWith('+xml') || type.endsWith('+yaml');
}

const decoders = new Map<string, TextDecoder | null>();

/** The decoder for a charset label (lower case), null for UTF-8 and for labels TextDecoder does not know (read as UTF-8). */
export function decoderFor(label: string): TextDecoder | null {
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
