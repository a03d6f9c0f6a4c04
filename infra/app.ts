import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { environmentsFromContext } from './environments.ts';
import { PayoutsStack } from './payouts-stack.ts';

/**
 * `npx cdk synth|diff|deploy -c env=<dev|staging|prod>`: that environment's stack. Without
 * `-c env`, every environment's: `cdk bootstrap` and `cdk synth` work, and `cdk deploy` asks
 * which stack instead of guessing.
 */
export function buildApp(app: App = new App()): { app: App; stacks: PayoutsStack[] } {
  const configs = environmentsFromContext(app.node.tryGetContext('env'), {
    account: app.node.tryGetContext('account') ?? process.env.CDK_DEFAULT_ACCOUNT,
    region: app.node.tryGetContext('region') ?? process.env.CDK_DEFAULT_REGION,
    alarmEmail: app.node.tryGetContext('alarmEmail'),
  });
  const stacks = configs.map(
    (config) =>
      new PayoutsStack(app, `Payouts-${config.name}`, {
        config,
        env:
          config.account || config.region
            ? { account: config.account, region: config.region }
            : undefined,
        tags: { service: 'payouts', environment: config.name },
      }),
  );
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stacks };
}
