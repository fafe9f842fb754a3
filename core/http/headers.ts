// Request headers as the readers need them.
import type * as http from 'node:http';

/** `type/subtype` in lower case, or '' when there is none. */
export function mediaType(header: string | undefined): string {
  if (header === undefined) return '';
  const semi = header.indexOf(';');
  return (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
}

/** The declared body length, or -1 (chunked, or none). Node's parser has already refused bad values. */
export function contentLength(req: http.IncomingMessage): number {
  const header = req.headers['content-length'];
  if (header === undefined) return -1;
  const n = Number(header);
  return Number.isFinite(n) ? n : -1;
}
