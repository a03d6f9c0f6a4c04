import { Duration, TimeZone } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DATABASE_ROLE_NAMES, type DatabaseRole } from '../shared/db/database-roles.ts';

/**
 * Everything that differs between dev, staging and prod, in one place. Nothing here is looked up
 * in AWS at synth time, so `cdk synth` runs offline.
 */
export type EnvironmentName = 'dev' | 'staging' | 'prod';

/**
 * `payouts/<env>/stripe`, and `payouts/<env>/db-<role>` for each database role (kebab-case): each
 * Lambda connects as its own role (shared/db/database-roles.ts), the CLI as the operator.
 */
function secretNames(env: EnvironmentName): PayoutsEnvironment['secrets'] {
  const kebab = (role: string) => role.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  return {
    stripeSecretName: `payouts/${env}/stripe`,
    dbSecretNames: Object.fromEntries(
      DATABASE_ROLE_NAMES.map((role) => [role, `payouts/${env}/db-${kebab(role)}`]),
    ) as Record<DatabaseRole, string>,
  };
}

export interface VpcPlacement {
  vpcId: string;
  availabilityZones: string[];
  /** Private subnets with a NAT route: the transfer Lambda must reach api.stripe.com. */
  privateSubnetIds: string[];
  /** The Lambdas' own: egress to the proxy on 5432 and to HTTPS; the proxy's admits them. */
  securityGroupIds: string[];
}

/**
 * How the Lambdas reach Postgres (the host in the database secret); both verify its certificate.
 * README, Deploy → Network says what each needs and how on-call's CLI gets in.
 */
export type DatabaseTopology =
  /** In the database's VPC, through RDS Proxy (reachable only from inside it); egress via NAT. */
  | { topology: 'rds-proxy-in-vpc'; vpc: VpcPlacement }
  /** Outside any VPC, to a publicly reachable endpoint over TLS. */
  | { topology: 'public-tls' };

export interface PayoutsEnvironment {
  name: EnvironmentName;
  /** Deploy target; when absent the stack is environment-agnostic (account from the CLI profile). */
  account?: string;
  region?: string;
  /** The daily scan, as a wall-clock time in a time zone (EventBridge Scheduler handles DST). */
  schedule: { hour: number; minute: number; timeZone: TimeZone };
  /**
   * The daily reconciliation, in the scan's time zone: hours after the scan, once its payouts are
   * settled (a full batch of retries and deferrals is long over).
   */
  reconciliation: { hour: number; minute: number };
  /** Where payout events go (docs/payout-events.md); the sweeper publishes what is left. */
  payoutEvents: {
    /** An existing bus (the marketplace's, perhaps in its account) instead of the stack's own. */
    busArn?: string;
    /** How often the sweeper publishes events left unpublished. */
    sweepEvery: Duration;
  };
  alarms: {
    /** Subscribed to the environment's alarm topic, when set. */
    email?: string;
    /** An existing topic to notify instead of creating one (e.g. the on-call pager's). */
    topicArn?: string;
    /** Failed payouts within 6 hours (one daily run) above which someone should look. */
    failedPayoutsThreshold: number;
    /** A dead-lettered payout older than this pages again: money is owed and nobody moved it. */
    dlqMaxAge: Duration;
  };
  /** The runbook as a page on-call can open from an alarm; each alarm links its own section. */
  runbookUrl: string;
  logRetention: RetentionDays;
  transfer: {
    /**
     * Concurrent transfer Lambdas (SQS event source maxConcurrency, at least 2), each handling its
     * batch one record at a time. The Stripe request rate is not theirs to set: stripeBudget is.
     */
    maxConcurrency: number;
    /**
     * Stripe requests per second of all transfer Lambdas together (shared/stripe-budget.ts).
     * Stripe allows 25 per endpoint and 100 per account in live mode (25 in a sandbox): leave
     * headroom for the rest of the platform.
     */
    stripeBudget: { createsPerSecond: number; readsPerSecond: number };
    platformFeeBps: number;
    /** PAYOUT_MAX_TRANSFER_AMOUNTS / PAYOUT_MAX_DAILY_TOTALS: `usd=1000000,*=1000000`, minor units. */
    maxTransferAmounts: string;
    maxDailyTotals: string;
  };
  graceHours: number;
  /**
   * Names of existing Secrets Manager secrets; the stack never holds a secret value. One database
   * secret per database role (README, Deploy → Database roles): each Lambda reads only its own,
   * and on-call's CLI the operator's.
   */
  secrets: { stripeSecretName: string; dbSecretNames: Record<DatabaseRole, string> };
  database: DatabaseTopology;
  /**
   * Stripe's events through Amazon EventBridge (README, "Stripe events"): the name of the partner
   * event source Stripe created for this environment's event destination,
   * `aws.partner/stripe.com/ed_…`. Absent: no event bus, no stripe-events Lambda; payouts then learn
   * of a mentor's fixed account at the next daily scan, and of reversals not at all.
   */
  stripeEvents?: { eventSourceName: string };
  /** Keep queues and logs when the stack is deleted, and refuse deletion. */
  retainData: boolean;
}

/** Test-mode keys share a sandbox's 25 requests per second with everything else that tests. */
const SANDBOX_STRIPE_BUDGET = { createsPerSecond: 5, readsPerSecond: 5 };
const DAILY_AT_0600_BERLIN = { hour: 6, minute: 0, timeZone: TimeZone.EUROPE_BERLIN };
// Four hours after the scan: its payouts, retries and hand-backs are done.
const RECONCILE_AT_1000 = { hour: 10, minute: 0 };
const PAYOUT_EVENTS = { sweepEvery: Duration.minutes(15) };
// About 10 000 of the major unit per transfer; zero-decimal currencies in kind.
const MAX_TRANSFER = 'jpy=1500000,krw=14000000,*=1000000';
// Set to this repository's address: alarms link its sections (README, Deploy).
const RUNBOOK_URL = 'https://github.com/your-github-org/payouts/blob/main/docs/runbook.md';
// Placeholders until the databases' VPCs exist: set each environment's ids (README, Deploy).
const STAGING_DATABASE_VPC: VpcPlacement = {
  vpcId: 'vpc-0000000000000a001',
  availabilityZones: ['eu-central-1a', 'eu-central-1b'],
  privateSubnetIds: ['subnet-0000000000000a011', 'subnet-0000000000000a012'],
  securityGroupIds: ['sg-0000000000000a021'],
};
const PROD_DATABASE_VPC: VpcPlacement = {
  vpcId: 'vpc-0000000000000b001',
  availabilityZones: ['eu-central-1a', 'eu-central-1b'],
  privateSubnetIds: ['subnet-0000000000000b011', 'subnet-0000000000000b012'],
  securityGroupIds: ['sg-0000000000000b021'],
};
// A tenth of prod's daily totals: dev and staging move test-mode money only.
const NON_PROD_DAILY_TOTALS = 'jpy=15000000,krw=140000000,*=10000000';

export const ENVIRONMENTS: Record<EnvironmentName, PayoutsEnvironment> = {
  dev: {
    name: 'dev',
    schedule: DAILY_AT_0600_BERLIN,
    reconciliation: RECONCILE_AT_1000,
    payoutEvents: PAYOUT_EVENTS,
    alarms: { failedPayoutsThreshold: 50, dlqMaxAge: Duration.days(3) },
    runbookUrl: RUNBOOK_URL,
    logRetention: RetentionDays.TWO_WEEKS,
    transfer: {
      maxConcurrency: 2,
      stripeBudget: SANDBOX_STRIPE_BUDGET,
      platformFeeBps: 2000,
      maxTransferAmounts: MAX_TRANSFER,
      maxDailyTotals: NON_PROD_DAILY_TOTALS,
    },
    graceHours: 24,
    secrets: secretNames('dev'),
    // A throw-away test-mode database: no NAT gateway to pay for.
    database: { topology: 'public-tls' },
    retainData: false,
  },
  staging: {
    name: 'staging',
    schedule: DAILY_AT_0600_BERLIN,
    reconciliation: RECONCILE_AT_1000,
    payoutEvents: PAYOUT_EVENTS,
    alarms: { failedPayoutsThreshold: 20, dlqMaxAge: Duration.days(1) },
    runbookUrl: RUNBOOK_URL,
    logRetention: RetentionDays.ONE_MONTH,
    transfer: {
      maxConcurrency: 2,
      stripeBudget: SANDBOX_STRIPE_BUDGET,
      platformFeeBps: 2000,
      maxTransferAmounts: MAX_TRANSFER,
      maxDailyTotals: NON_PROD_DAILY_TOTALS,
    },
    graceHours: 24,
    secrets: secretNames('staging'),
    database: { topology: 'rds-proxy-in-vpc', vpc: STAGING_DATABASE_VPC },
    retainData: false,
  },
  prod: {
    name: 'prod',
    schedule: DAILY_AT_0600_BERLIN,
    reconciliation: RECONCILE_AT_1000,
    payoutEvents: PAYOUT_EVENTS,
    alarms: { failedPayoutsThreshold: 10, dlqMaxAge: Duration.hours(12) },
    runbookUrl: RUNBOOK_URL,
    logRetention: RetentionDays.ONE_YEAR,
    transfer: {
      maxConcurrency: 10,
      // 20 of Stripe's 25 per endpoint; together 40 of the account's 100 in live mode.
      stripeBudget: { createsPerSecond: 20, readsPerSecond: 20 },
      platformFeeBps: 2000,
      maxTransferAmounts: MAX_TRANSFER,
      // About a million of the major unit a day; raise it with the business, not at 3 a.m.
      maxDailyTotals: 'jpy=150000000,krw=1400000000,*=100000000',
    },
    graceHours: 24,
    secrets: secretNames('prod'),
    database: { topology: 'rds-proxy-in-vpc', vpc: PROD_DATABASE_VPC },
    retainData: true,
  },
};

type ContextOverrides = { account?: string; region?: string; alarmEmail?: string };

/** `-c env=<name>` selects that environment; without it, every one. An unknown name fails. */
export function environmentsFromContext(
  name: unknown,
  overrides: ContextOverrides = {},
): PayoutsEnvironment[] {
  const names = name === undefined ? (Object.keys(ENVIRONMENTS) as EnvironmentName[]) : [name];
  return names.map((each) => environmentFromContext(each, overrides));
}

/** Reads `-c env=<name>`; an unknown or missing name fails with the list of valid ones. */
export function environmentFromContext(
  name: unknown,
  overrides: ContextOverrides = {},
): PayoutsEnvironment {
  const valid = Object.keys(ENVIRONMENTS).join(', ');
  if (typeof name !== 'string' || !(name in ENVIRONMENTS)) {
    throw new Error(
      `Unknown environment ${JSON.stringify(name ?? null)}: pass -c env=<${valid.replaceAll(', ', '|')}> (one of ${valid})`,
    );
  }
  const config = ENVIRONMENTS[name as EnvironmentName];
  return {
    ...config,
    account: overrides.account ?? config.account,
    region: overrides.region ?? config.region,
    alarms: { ...config.alarms, email: overrides.alarmEmail ?? config.alarms.email },
  };
}
