// ET's `sendOutputToUris` (Engine Toolkit's option of that name): each output a task produces — the
// synchronous /process answer or a posted result — is POSTed on to every URI the task was
// created with, at `{uri}/internalJobID=…&internalTaskID=…&jobID=…&taskID=…&chunkID=…&timestamp=…`,
// with the chunk metadata that starts with `x-aiware-` as headers. Every forward is recorded.
import * as http from 'node:http';
import * as https from 'node:https';
import { CHUNK_METADATA_PREFIX, errorMessage } from '@aiware-nodered/node-red-aiware';

/** One output sent on to one URI. */
export interface ForwardedOutput {
  taskId: string;
  uri: string;
  /** The URL posted to, as ET builds it. */
  url: string;
  /** The `x-aiware-` headers sent (names in lower case). */
  headers: Record<string, string>;
  /** The result's index; absent for a synchronous answer. */
  index?: number;
  /** The notification server's answer, or the error that stopped the post. */
  status?: number;
  error?: string;
  at: number;
}

const HEADER_PREFIX = 'x-aiware-';
const TIMEOUT_MS = 10_000;

/** The URL ET posts a task's output to, for one of its `sendOutputToUris`. */
export function forwardUrl(uri: string, fields: Record<string, string>): string {
  let payload: Record<string, unknown> = {};
  try {
    payload = JSON.parse(fields.payload ?? '{}') as Record<string, unknown>;
  } catch {
    // a payload that is not JSON has no jobId/taskId to give
  }
  const text = (value: unknown): string => encodeURIComponent(typeof value === 'string' || typeof value === 'number' ? String(value) : '');
  const query = [
    `internalJobID=${text(fields.internalJobId)}`,
    `internalTaskID=${text(fields.internalTaskId)}`,
    `jobID=${text(payload.jobId)}`,
    `taskID=${text(payload.taskId)}`,
    `chunkID=${text(fields.chunkUUID)}`,
    `timestamp=${text(fields.chunkTimestamp)}`,
  ].join('&');
  return `${uri.replace(/\/+$/, '')}/${query}`;
}

/** The `x-aiware-` entries of a work item's chunk metadata, as headers. */
export function forwardHeaders(fields: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (!name.toLowerCase().startsWith(CHUNK_METADATA_PREFIX)) continue;
    const header = name.slice(CHUNK_METADATA_PREFIX.length).toLowerCase();
    // A header value cannot hold a line break: such metadata is not sent (ET could not send it either).
    if (header.startsWith(HEADER_PREFIX) && !/[\r\n]/.test(value)) headers[header] = value;
  }
  return headers;
}

export class Forwarder {
  private readonly uris = new Map<string, string[]>();
  private readonly records: ForwardedOutput[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly agent = new http.Agent({ keepAlive: true });

  constructor(private readonly onForward?: (record: ForwardedOutput) => void) {}

  /** The task's (or, with '*', every task's) `sendOutputToUris`. */
  setUris(taskId: string, uris: string[]): void {
    for (const uri of uris) {
      const url = new URL(uri);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`sendOutputToUris takes http(s) URIs, got ${uri}`);
    }
    this.uris.set(taskId, [...uris]);
  }

  urisOf(taskId: string): string[] {
    return this.uris.get(taskId) ?? this.uris.get('*') ?? [];
  }

  /** Every forward so far (finished ones), optionally of one task. */
  forwarded(taskId?: string): ForwardedOutput[] {
    return this.records.filter((r) => taskId === undefined || r.taskId === taskId).map((r) => ({ ...r, headers: { ...r.headers } }));
  }

  /** Sends `output` on to the task's URIs; resolves once each post has ended (never rejects). */
  forward(taskId: string, fields: Record<string, string> | undefined, output: unknown, index?: number): Promise<void> {
    const uris = this.urisOf(taskId);
    if (uris.length === 0 || fields === undefined) return Promise.resolve();
    const body = Buffer.from(JSON.stringify(output ?? null), 'utf8');
    const headers = forwardHeaders(fields);
    const posts = uris.map(async (uri) => {
      const url = forwardUrl(uri, fields);
      const record: ForwardedOutput = { taskId, uri, url, headers, ...(index === undefined ? {} : { index }), at: Date.now() };
      try {
        record.status = await this.post(url, body, headers);
      } catch (err) {
        record.error = errorMessage(err);
      }
      this.records.push(record);
      this.onForward?.(record);
    });
    const all = Promise.all(posts).then(() => undefined);
    this.pending.add(all);
    void all.finally(() => this.pending.delete(all));
    return all;
  }

  /** Resolves once every forward under way has ended. */
  async drain(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  destroy(): void {
    this.agent.destroy();
  }

  private post(target: string, body: Buffer, headers: Record<string, string>): Promise<number> {
    const url = new URL(target);
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          agent: secure ? undefined : this.agent,
          timeout: TIMEOUT_MS,
          headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(body.length), 'User-Agent': 'aiware-toolkit-emulator' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
