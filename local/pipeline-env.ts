/** The partner event source the local stripe-events Lambda accepts events from (README, Stripe events). */
export const LOCAL_STRIPE_EVENT_SOURCE = 'aws.partner/stripe.com/ed_test_local_stand_in';

/** What the Lambdas and the CLI read, pointed at the local stand-ins (README, "Configuration"). */
export function localPipelineEnv(options: {
  databaseUrl: string;
  queueUrl: string;
  /** The payout DLQ, for the CLI (`payouts dlq …`, `status`). */
  dlqUrl?: string;
  /** The Stripe stand-in; without it the Stripe variables are left out (the scan reads none). */
  stripeApiBase?: string;
  /**
   * By default the queue URL's own origin: the SDK sends there anyway, and warns when the two
   * differ. A process that does not resolve fauxqs's host names needs the server's address.
   */
  sqsEndpoint?: string;
}): Record<string, string> {
  return {
    DATABASE_URL: options.databaseUrl,
    PAYOUT_QUEUE_URL: options.queueUrl,
    ...(options.dlqUrl && { PAYOUT_DLQ_URL: options.dlqUrl }),
    AWS_ENDPOINT_URL_SQS: options.sqsEndpoint ?? new URL(options.queueUrl).origin,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    ...(options.stripeApiBase && {
      STRIPE_SECRET_KEY: 'sk_test_local_stand_in',
      STRIPE_API_BASE: options.stripeApiBase,
      // Stripe's own default limit per endpoint: the stand-in is a fast sandbox.
      STRIPE_CREATES_PER_SECOND: '25',
      STRIPE_READS_PER_SECOND: '25',
      STRIPE_EVENT_SOURCE: LOCAL_STRIPE_EVENT_SOURCE,
    }),
  };
}
