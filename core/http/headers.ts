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

/** The W3C trace context a request carries (`traceparent`, `tracestate`), or undefined when it has none. */
export function traceHeaders(req: http.IncomingMessage): Record<string, string> | undefined {
  const parent = req.headers.traceparent;
  if (typeof parent !== 'string') return undefined;
  const state = req.headers.tracestate;
  return typeof state === 'string' ? { traceparent: parent, tracestate: state } : { traceparent: parent };
}
