import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { environmentFromContext } from '../infra/environments.ts';
import { PayoutsFunction } from '../infra/payouts-function.ts';
import { PayoutsStack } from '../infra/payouts-stack.ts';

/** One Lambda as the stack deploys it: its esbuild bundle and its configured size. */
export interface LambdaBundle {
  /** The Powertools service name the stack gives it (`payouts-transfer`, …). */
  name: string;
  /** index.js, CommonJS, loadable with this repository's node_modules for the runtime's AWS SDK. */
  file: string;
  memoryMb: number;
  timeoutSeconds: number;
  /** Its variables in the template that are plain values (not references to other resources). */
  environment: Record<string, string>;
}

export interface SynthesizedBundles {
  /** Every payouts Lambda of prod (with Stripe's events on, so that all five are there). */
  lambdas: LambdaBundle[];
  /** The minimal Powertools SQS handler, bundled by the same construct. */
  baseline: LambdaBundle;
  /** Prod's settings as the stack holds them. */
  prod: ReturnType<typeof environmentFromContext>;
  remove(): void;
}

interface TemplateFunction {
  Type: string;
  Metadata?: Record<string, unknown>;
  Properties: {
    MemorySize?: number;
    Timeout?: number;
    Environment?: { Variables?: Record<string, unknown> };
  };
}

/**
 * Synthesizes prod's stack into a fresh directory, bundling each Lambda exactly as `cdk synth` and
 * `cdk deploy` do (NodejsFunction, local esbuild), and reads each function's memory and timeout
 * from the template: nothing is copied from infra by hand, nothing is taken from an earlier synth.
 */
export function synthesizeBundles(root: string): SynthesizedBundles {
  // Inside the repository, so that a loaded bundle finds the AWS SDK in its node_modules, as the
  // Lambda runtime provides it; a new directory every run.
  mkdirSync(join(root, 'cdk.out'), { recursive: true });
  const outdir = mkdtempSync(join(root, 'cdk.out', 'bench-'));
  const prod = environmentFromContext('prod');
  const app = new App({
    outdir,
    context: { env: 'prod', 'aws:cdk:enable-asset-metadata': true },
  });
  const payouts = new PayoutsStack(app, 'Payouts-prod', {
    config: { ...prod, stripeEvents: { eventSourceName: 'aws.partner/stripe.com/ed_bench' } },
  });
  const baselineStack = new Stack(app, 'BenchBaseline');
  new PayoutsFunction(baselineStack, 'Minimal', {
    entry: '../bench/minimal-sqs-handler.ts',
    serviceName: 'minimal-powertools-sqs',
    settings: {
      graceHours: prod.graceHours,
      logRetention: RetentionDays.ONE_DAY,
      removalPolicy: RemovalPolicy.DESTROY,
      dbSecret: secretsmanager.Secret.fromSecretNameV2(baselineStack, 'Secret', 'bench'),
    },
  });
  const assembly = app.synth();
  const functionsOf = (stackName: string): LambdaBundle[] => {
    const template = assembly.getStackByName(stackName).template as {
      Resources: Record<string, TemplateFunction>;
    };
    return Object.values(template.Resources)
      .filter((resource) => resource.Type === 'AWS::Lambda::Function')
      .flatMap((resource) => {
        const variables = resource.Properties.Environment?.Variables ?? {};
        const name = variables.POWERTOOLS_SERVICE_NAME;
        const asset = resource.Metadata?.['aws:asset:path'];
        if (typeof name !== 'string' || typeof asset !== 'string') return [];
        const dir = join(outdir, asset);
        // Lambda loads index.js as CommonJS; this repository's package.json says "module".
        writeFileSync(join(dir, 'package.json'), '{"type":"commonjs"}');
        return [
          {
            name,
            file: join(dir, 'index.js'),
            memoryMb: resource.Properties.MemorySize ?? 128,
            timeoutSeconds: resource.Properties.Timeout ?? 3,
            environment: Object.fromEntries(
              Object.entries(variables).filter(
                (entry): entry is [string, string] => typeof entry[1] === 'string',
              ),
            ),
          },
        ];
      });
  };
  const lambdas = functionsOf(payouts.stackName).sort((a, b) => a.name.localeCompare(b.name));
  const [baseline] = functionsOf(baselineStack.stackName);
  if (lambdas.length !== 5 || !baseline) {
    throw new Error(`Expected 5 payouts Lambdas and the baseline, found ${lambdas.length}`);
  }
  return {
    lambdas,
    baseline,
    prod,
    remove: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

export const REPOSITORY_ROOT = resolve(import.meta.dirname, '..');
