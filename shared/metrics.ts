import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, type ServiceName } from './metric-names.ts';

/** Built once per Lambda, at import; namespace and service are the constants the alarms read. */
export function createMetrics(serviceName: ServiceName): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
}
