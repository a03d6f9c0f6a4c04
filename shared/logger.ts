import { Logger } from '@aws-lambda-powertools/logger';
import type { ServiceName } from './metric-names.ts';

/** The one structured logger: a fixed message plus a data object of ids, never secrets. */
export type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

/**
 * Built once per Lambda, at import; the service name is the constant the dashboard and alarms
 * use, whatever the environment says. The level still follows POWERTOOLS_LOG_LEVEL.
 */
export function createLogger(serviceName: ServiceName): Logger {
  return new Logger({ serviceName });
}
