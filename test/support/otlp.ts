// A test's OpenTelemetry collector: an OTLP/HTTP receiver on loopback that takes JSON trace exports
// (POST /v1/traces, what OTEL_EXPORTER_OTLP_PROTOCOL=http/json sends) and keeps their spans, flat,
// with their attributes as plain values and their resource's beside them.
import type * as http from 'node:http';
import { serve, type Loopback } from './loopback';

/** An OTLP/JSON attribute value (the kinds the pack writes). */
interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
}

interface KeyValue {
  key: string;
  value: AnyValue;
}

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: KeyValue[];
  status?: { code?: number; message?: string };
}

interface ExportRequest {
  resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { scope?: { name?: string }; spans?: ExportedSpan[] }[] }[];
}

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, string | number | boolean>;
  status: { code: number; message?: string };
  resource: Record<string, string | number | boolean>;
  scope: string;
}

function plain(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    out[key] = value.stringValue ?? value.boolValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? ''));
  }
  return out;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Every export body as it came: what a token must never be in. */
  readonly bodies: string[] = [];
  private waiters: (() => void)[] = [];

  private constructor(private readonly server: Loopback) {}

  static async start(): Promise<OtlpReceiver> {
    const taken: { receiver?: OtlpReceiver } = {};
    const server = await serve((req, res) => taken.receiver!.take(req, res));
    return (taken.receiver = new OtlpReceiver(server));
  }

  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter adds /v1/traces). */
  get url(): string {
    return this.server.url;
  }

  /** The environment that has a runner send its spans here, as JSON, promptly. */
  env(): Record<string, string> {
    return { OTEL_EXPORTER_OTLP_ENDPOINT: this.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' };
  }

  /** Resolves once `accept` holds for the spans received so far (checked at each export), within `timeoutMs`. */
  async waitFor(accept: (spans: ReceivedSpan[]) => boolean, timeoutMs = 15_000): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + timeoutMs;
    while (!accept(this.spans)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the spans expected did not come in ${timeoutMs} ms; ${this.spans.length} came: ${this.spans.map((s) => s.name).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.spans;
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private take(req: http.IncomingMessage, res: http.ServerResponse): void {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/json')) {
        res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: `not an OTLP/JSON trace export: ${req.method} ${req.url} ${req.headers['content-type']}` }));
        return;
      }
      this.bodies.push(text);
      const body = JSON.parse(text) as ExportRequest;
      for (const resourceSpans of body.resourceSpans ?? []) {
        const resource = plain(resourceSpans.resource?.attributes);
        for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
          for (const span of scopeSpans.spans ?? []) {
            this.spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              kind: span.kind,
              startNs: BigInt(span.startTimeUnixNano),
              endNs: BigInt(span.endTimeUnixNano),
              attributes: plain(span.attributes),
              status: { code: span.status?.code ?? 0, message: span.status?.message },
              resource,
              scope: scopeSpans.scope?.name ?? '',
            });
          }
        }
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      for (const waiter of this.waiters.splice(0)) waiter();
    });
  }
}
