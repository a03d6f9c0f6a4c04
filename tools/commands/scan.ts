import { InvokeCommand } from '@aws-sdk/client-lambda';
import type { ScanSummary } from '../../lambdas/scan/scan-eligible-sessions.ts';
import { ConfigError } from '../../shared/errors.ts';
import type { CliDeps } from '../cli-deps.ts';
import { paint, printJson } from './format.ts';

/**
 * Runs the daily scan now by invoking the deployed scan function (with --env local, the one of
 * `npm start -- --keep`), as the schedule would: an extra scan is harmless, the transfer Lambda
 * skips what is paid or being paid.
 */
export async function scanCommand(deps: CliDeps, options: { json: boolean }): Promise<number> {
  const functionName = deps.config.scanFunction;
  if (!functionName) {
    throw new ConfigError(
      'Invalid configuration: PAYOUT_SCAN_FUNCTION is required for this command (--env sets it)',
    );
  }
  const response = await deps
    .lambda()
    .send(new InvokeCommand({ FunctionName: functionName, Payload: JSON.stringify({}) }));
  const payload = JSON.parse(new TextDecoder().decode(response.Payload) || 'null') as unknown;
  if (response.FunctionError) {
    const { errorMessage = JSON.stringify(payload) } = (payload ?? {}) as { errorMessage?: string };
    if (options.json) printJson(deps.out, { functionName, error: errorMessage });
    deps.out.error(
      paint(deps.out.errorColour, 'alert', `The scan failed (${functionName}): ${errorMessage}`),
    );
    return 1;
  }
  const summary = payload as ScanSummary;
  if (options.json) {
    printJson(deps.out, { functionName, ...summary });
  } else if (summary.paused) {
    deps.out.log(paint(deps.out.colour, 'alert', 'Payouts are PAUSED: the scan enqueued nothing.'));
  } else {
    deps.out.log(
      `Scan (${functionName}): enqueued ${summary.enqueued} session(s) in ${summary.pages} page(s)${summary.failed > 0 ? `; ${summary.failed} could not be enqueued` : ''}.`,
    );
  }
  return summary.paused || summary.failed > 0 ? 1 : 0;
}
