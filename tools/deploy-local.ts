import { mkdir, rm, writeFile } from 'node:fs/promises';
import { ENVIRONMENTS, type EnvironmentName } from '../infra/environments.ts';
import {
  type DeployedEnvironment,
  NOT_CREATED_BY_MOTO,
  startDeployRehearsal,
  unexpectedGaps,
} from './deploy-rehearsal.ts';

/**
 * `npm run deploy:local -- -c env=<dev|staging|prod>`: the deploy rehearsal (tools/deploy-rehearsal.ts),
 * kept up until Ctrl-C so that `npm run payouts -- --env <env> …` can be tried against it.
 */

const USAGE = 'usage: npm run deploy:local -- -c env=<dev|staging|prod>';

/** `-c env=<name>` or `--context env=<name>`, as the CDK CLI spells it; nothing else. */
export function environmentFromArgs(argv: string[]): EnvironmentName {
  const [flag, value, ...rest] = argv;
  const name = /^env=(.+)$/.exec(value ?? '')?.[1];
  if ((flag !== '-c' && flag !== '--context') || !name || rest.length > 0) {
    throw new Error(USAGE);
  }
  if (!(name in ENVIRONMENTS)) {
    throw new Error(`Unknown environment "${name}": ${USAGE}`);
  }
  return name as EnvironmentName;
}

export const rehearsalEnvFile = (name: EnvironmentName) => `.local/deploy-${name}.env`;

/** What a shell sources to point the AWS SDK (and so `payouts --env`) at the rehearsal's moto. */
export function shellExports(awsEnv: Record<string, string>): string {
  const lines = Object.entries(awsEnv).map(([key, value]) => `export ${key}='${value}'`);
  return `# The deploy rehearsal's moto (npm run deploy:local): not AWS.\n${lines.join('\n')}\n`;
}

function report(deployed: DeployedEnvironment): void {
  const warnings = deployed.lintFindings.map((f) => `${f.rule} ${f.path}`);
  console.log(`\n${deployed.stackName} deployed into moto at ${deployed.awsEnv.AWS_ENDPOINT_URL}.`);
  console.log(
    `cfn-lint: no errors${warnings.length ? `; warnings: ${warnings.join(', ')}` : ', no warnings'}.`,
  );
  console.log('Outputs:');
  for (const [key, value] of Object.entries(deployed.outputs)) console.log(`  ${key} = ${value}`);
  const counts = new Map<string, number>();
  for (const { type } of deployed.notCreated) counts.set(type, (counts.get(type) ?? 0) + 1);
  const skipped = [...counts].map(([type, count]) => `${count} × ${type}`);
  console.log(
    `Not created by moto (the template tests in test/infra/ cover them): ${skipped.join(', ')}.`,
  );
  const gaps = unexpectedGaps(deployed);
  if (gaps.length > 0) {
    console.error(
      `WARNING: moto also skipped ${gaps.map((gap) => `${gap.logicalId} (${gap.type})`).join(', ')}, which is not among ${NOT_CREATED_BY_MOTO.join(', ')}: nothing here checks them.`,
    );
  }
}

async function main(): Promise<void> {
  const name = environmentFromArgs(process.argv.slice(2));
  // Node 20 is this project's local runtime by decision; the Lambdas run on nodejs22.x.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const rehearsal = await startDeployRehearsal();
  const envFile = rehearsalEnvFile(name);
  try {
    const deployed = await rehearsal.deploy(name, { onOutput: (line) => console.log(line) });
    report(deployed);
    await mkdir('.local', { recursive: true });
    await writeFile(envFile, shellExports(deployed.awsEnv));
    console.log(
      `\nKept running; in another shell:\n  source ${envFile}\n  npm run payouts -- --env ${name} status\n(Ctrl-C stops moto and the database; nothing of it is kept.)`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  } finally {
    await rm(envFile, { force: true });
    await rehearsal.stop();
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  try {
    await main();
    process.exit(0);
  } catch (error) {
    console.error(`deploy:local: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
