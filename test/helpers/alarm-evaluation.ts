/**
 * CloudWatch's evaluation of an M-of-N alarm, as its guide documents it ("Configuring how
 * CloudWatch alarms treat missing data"), so that a template test can say what state an alarm's
 * configuration takes for a series of datapoints. Only what the payouts alarms use.
 */
export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

export interface AlarmConfiguration {
  Threshold: number;
  ComparisonOperator: string;
  EvaluationPeriods: number;
  DatapointsToAlarm?: number;
  TreatMissingData?: string;
}

/** `datapoints`: the evaluation range, oldest first, `undefined` for a period with no data. */
export function evaluateAlarm(
  alarm: AlarmConfiguration,
  datapoints: (number | undefined)[],
  currentState: AlarmState = 'INSUFFICIENT_DATA',
): AlarmState {
  if (datapoints.length !== alarm.EvaluationPeriods) {
    throw new Error(`give ${alarm.EvaluationPeriods} periods, got ${datapoints.length}`);
  }
  const toAlarm = alarm.DatapointsToAlarm ?? alarm.EvaluationPeriods;
  const treatment = alarm.TreatMissingData ?? 'missing';
  const present = datapoints.filter((value): value is number => value !== undefined);
  if (present.length === 0) {
    if (treatment === 'breaching') return 'ALARM';
    if (treatment === 'notBreaching') return 'OK';
    return treatment === 'ignore' ? currentState : 'INSUFFICIENT_DATA';
  }
  const breaching = present.filter((value) => breaches(alarm, value)).length;
  // Fewer real datapoints than M: the missing ones are filled in as the treatment says.
  const filled =
    present.length < toAlarm && treatment === 'breaching' ? datapoints.length - present.length : 0;
  return breaching + filled >= toAlarm ? 'ALARM' : 'OK';
}

function breaches(alarm: AlarmConfiguration, value: number): boolean {
  switch (alarm.ComparisonOperator) {
    case 'GreaterThanOrEqualToThreshold':
      return value >= alarm.Threshold;
    case 'GreaterThanThreshold':
      return value > alarm.Threshold;
    case 'LessThanThreshold':
      return value < alarm.Threshold;
    case 'LessThanOrEqualToThreshold':
      return value <= alarm.Threshold;
    default:
      throw new Error(`unknown comparison ${alarm.ComparisonOperator}`);
  }
}
