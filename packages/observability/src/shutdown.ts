import type { Logger } from './logger';
import { stopTracing } from './tracing';

type Step = { name: string; run: () => Promise<unknown> | unknown };

/**
 * Ordered graceful shutdown: SIGTERM/SIGINT run the steps once, in order (readiness off,
 * stop accepting, drain, flush, close pools), bounded by `timeoutMs`.
 */
export function createShutdown(logger: Logger, timeoutMs = 10_000) {
  const steps: Step[] = [];
  let running: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    running ??= (async () => {
      logger.info({ reason }, 'shutting down');
      const timer = setTimeout(() => {
        logger.error('shutdown timed out');
        process.exit(1);
      }, timeoutMs);
      timer.unref();
      for (const step of steps) {
        try {
          await step.run();
        } catch (err) {
          logger.error({ err, step: step.name }, 'shutdown step failed');
        }
      }
      await stopTracing().catch(() => undefined);
      clearTimeout(timer);
    })();
    return running;
  };
  return {
    add(name: string, run: Step['run']) {
      steps.push({ name, run });
    },
    shutdown,
    installSignalHandlers() {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        process.once(signal, () => {
          void shutdown(signal).then(() => process.exit(0));
        });
      }
    },
  };
}

export type Shutdown = ReturnType<typeof createShutdown>;
