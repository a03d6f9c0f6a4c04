import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { environmentFromContext } from './environments.ts';
import { PayoutsStack } from './payouts-stack.ts';

/** `npx cdk synth|diff|deploy -c env=<dev|staging|prod>`: one stack per environment. */
export function buildApp(app: App = new App()): { app: App; stack: PayoutsStack } {
  const config = environmentFromContext(app.node.tryGetContext('env'), {
    account: app.node.tryGetContext('account') ?? process.env.CDK_DEFAULT_ACCOUNT,
    region: app.node.tryGetContext('region') ?? process.env.CDK_DEFAULT_REGION,
    alarmEmail: app.node.tryGetContext('alarmEmail'),
  });
  const stack = new PayoutsStack(app, `Payouts-${config.name}`, {
    config,
    env:
      config.account || config.region
        ? { account: config.account, region: config.region }
        : undefined,
    tags: { service: 'payouts', environment: config.name },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
