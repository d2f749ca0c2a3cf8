// OpenTelemetry tracing (http, koa, pg, ioredis), off by default. It turns on with the standard
// variables: an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or
// OTEL_TRACES_EXPORTER=otlp|console, unless OTEL_SDK_DISABLED=true. The SDK reads the rest of OTEL_*
// itself (service name, headers, sampler). It must start before the instrumented modules load, so
// the CLI starts it first and the packages are imported after.

export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  if (env.OTEL_TRACES_EXPORTER === 'none') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_TRACES_EXPORTER);
}

let stopActive: (() => Promise<void>) | undefined;

/** Flushes and stops the SDK if it runs (the last step of a graceful shutdown). */
export async function stopTracing(): Promise<void> {
  const stop = stopActive;
  stopActive = undefined;
  await stop?.();
}

/** Starts the SDK when requested; returns whether it started. */
export async function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!tracingRequested(env) || stopActive) return false;
  const [{ NodeSDK }, { HttpInstrumentation }, { KoaInstrumentation }, { PgInstrumentation }, { IORedisInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-koa'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
  ]);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? serviceName,
    instrumentations: [
      // Health and metrics probes would drown the traces.
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => /^\/(healthz|readyz|metrics)$/.test(req.url ?? '') }),
      new KoaInstrumentation(),
      new PgInstrumentation(),
      new IORedisInstrumentation(),
    ],
  });
  sdk.start();
  stopActive = () => sdk.shutdown();
  return true;
}
