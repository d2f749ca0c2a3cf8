export { createLogger, REDACT_PATHS, type Logger } from './logger';
export { createMetrics, Counter, Histogram, Gauge, Registry, type Metrics } from './metrics';
export { requestContext } from './http';
export { createShutdown, type Shutdown } from './shutdown';
export { startTracing, stopTracing, tracingRequested } from './tracing';
