// multipart/form-data read by busboy, the parser the field trusts: what a body says, as the tests'
// oracle (the emulator's bodies, the pack's own parser).
import type { Readable } from 'node:stream';
import busboy from 'busboy';

export interface ParsedFile {
  name: string;
  filename: string;
  mimeType: string;
  data: Buffer;
}

export interface ParsedMultipart {
  fields: Record<string, string>;
  files: ParsedFile[];
}

/** Every field (the last of a repeated name) and every file part; parameters such as filenames read as UTF-8, as Go writes them. */
export function parseMultipart(body: Readable | Buffer, contentType: string): Promise<ParsedMultipart> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    const files: ParsedFile[] = [];
    const parser = busboy({ headers: { 'content-type': contentType }, defParamCharset: 'utf8', limits: { fieldSize: 16 * 1024 * 1024 } });
    parser.on('field', (name, value) => (fields[name] = value));
    parser.on('file', (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (data: Buffer) => chunks.push(data));
      stream.on('end', () => files.push({ name, filename: info.filename ?? '', mimeType: info.mimeType, data: Buffer.concat(chunks) }));
    });
    parser.on('close', () => resolve({ fields, files }));
    parser.on('error', reject);
    if (Buffer.isBuffer(body)) parser.end(body);
    else body.pipe(parser);
  });
}
