import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.ts';
import { environmentFromContext } from '../../infra/environments.ts';
import { PayoutsStack } from '../../infra/payouts-stack.ts';

/**
 * Logical ids are a contract once deployed: CloudFormation replaces a resource whose id changes,
 * and a replaced queue loses its messages (prod retains the old one, orphaned). This pins every
 * logical id of the prod template with its type: prod as configured, and prod once it names its
 * Stripe partner event source (whose stripe-events queue and DLQ are as stateful as the payout
 * queue's). A resource added on purpose is added to the pin files by running the tests with
 * PIN_LOGICAL_IDS=1; a pinned one may never change or go.
 */
const PROD_STACKS: Record<string, () => PayoutsStack> = {
  'prod-logical-ids.json': () => {
    const [stack] = buildApp(newApp('prod')).stacks;
    if (!stack) throw new Error('no prod stack');
    return stack;
  },
  'prod-stripe-events-logical-ids.json': () =>
    new PayoutsStack(newApp('prod'), 'Payouts-prod', {
      config: {
        ...environmentFromContext('prod'),
        stripeEvents: { eventSourceName: 'aws.partner/stripe.com/ed_pinned' },
      },
    }),
};

function newApp(env: string): App {
  return new App({
    context: { env, 'aws:cdk:bundling-stacks': [] },
    outdir: mkdtempSync(join(tmpdir(), 'payouts-cdk-')),
  });
}

function resourcesOf(stack: PayoutsStack): Record<string, string> {
  const resources = Template.fromStack(stack).toJSON().Resources as Record<
    string,
    { Type: string }
  >;
  return Object.fromEntries(
    Object.entries(resources)
      .map(([id, resource]) => [id, resource.Type] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

describe.each(Object.keys(PROD_STACKS))('the prod template’s logical ids (%s)', (pinFileName) => {
  const pinFile = join(import.meta.dirname, pinFileName);
  const current = resourcesOf((PROD_STACKS[pinFileName] as () => PayoutsStack)());
  if (process.env.PIN_LOGICAL_IDS === '1') {
    writeFileSync(pinFile, `${JSON.stringify(current, null, 2)}\n`);
  }
  const pinned = JSON.parse(readFileSync(pinFile, 'utf8')) as Record<string, string>;

  it('keeps every pinned resource under its logical id and type', () => {
    const changed = Object.entries(pinned)
      .filter(([id, type]) => current[id] !== type)
      .map(([id, type]) => `${id} (${type}) is ${current[id] ? `now ${current[id]}` : 'gone'}`);
    expect(changed).toEqual([]);
  });

  it('has no resource that is not pinned (add new ones with PIN_LOGICAL_IDS=1 npx vitest run test/infra)', () => {
    const unpinned = Object.keys(current).filter((id) => !(id in pinned));
    expect(unpinned).toEqual([]);
  });
});
