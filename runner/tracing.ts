// Traces (docs/runner.md, "Traces"): the OpenTelemetry SDK and its OTLP exporter, loaded only when
// the standard variables ask for them (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// or OTEL_TRACES_EXPORTER), so a runner that does not trace loads none of it. The SDK reads every
// other OTEL_* variable itself (protocol, headers, sampler, propagators, resource attributes); the
// pack's spans reach it through @opentelemetry/api. Traces only: the runner's metrics are /metrics,
// its logs its JSON lines.
import { diag, DiagLogLevel } from '@opentelemetry/api';
import type { Logger } from './log';

/** What the runner keeps of the SDK: a way to send the last spans and stop. */
export interface Tracing {
  /** What the spans go to, for the start-up line: the exporters and the endpoint. */
  readonly exporter: string;
  /** Sends the spans still buffered and stops (within the SDK's own export timeout). */
  shutdown(): Promise<void>;
}

/** The variables that turn tracing on, and the one that turns the SDK off whatever they say. */
export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase();
  if (exporters === 'none') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || exporters);
}

/**
 * Starts the SDK when `tracingWanted`; undefined otherwise. `service.name` is `aiware-engine` unless
 * OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) names one; the engine and build ids are attributes
 * of the resource. The SDK's own warnings (a collector that cannot be reached) go to the runner's log.
 */
export function startTracing(env: NodeJS.ProcessEnv, ids: { engineId: string; buildId: string }, log: Logger): Tracing | undefined {
  if (!tracingWanted(env)) return undefined;
  diag.setLogger(
    {
      error: (message, ...args) => log.warn({ otel: args.map(String) }, `OpenTelemetry: ${message}`),
      warn: (message, ...args) => log.warn({ otel: args.map(String) }, `OpenTelemetry: ${message}`),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    DiagLogLevel.WARN,
  );
  // Required here, not imported: a runner that does not trace never loads the SDK.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const named = Boolean(env.OTEL_SERVICE_NAME) || /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const sdk = new NodeSDK({
    // The engine's ids first: OTEL_RESOURCE_ATTRIBUTES (read by the SDK's env detector) may override them.
    resource: resourceFromAttributes({ ...(named ? {} : { 'service.name': 'aiware-engine' }), 'aiware.engine.id': ids.engineId, 'aiware.build.id': ids.buildId }),
    // Traces only, and no automatic instrumentation: the spans are the pack's.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  const exporters = (env.OTEL_TRACES_EXPORTER || 'otlp').trim();
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf';
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return {
    exporter: exporters === 'otlp' ? `otlp ${protocol}${endpoint ? ` to ${endpoint}` : ''}` : exporters,
    shutdown: () => sdk.shutdown(),
  };
}
