import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

// Anything that can carry a credential is censored before it reaches a log line.
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.newPassword',
  '*.client_secret',
  '*.clientSecret',
  '*.secret',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.code',
  '*.code_verifier',
  '*.token',
  '*.totp',
  'password',
  'client_secret',
  'token',
];

export function createLogger(options: { level: string; name: string; destination?: NodeJS.WritableStream }): Logger {
  const opts: LoggerOptions = {
    level: options.level,
    name: options.name,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: options.name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}
