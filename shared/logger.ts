import { Logger } from '@aws-lambda-powertools/logger';

/** The one structured logger: a fixed message plus a data object of ids, never secrets. */
export type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? serviceName });
}
