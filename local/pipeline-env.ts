/** The environment both Lambdas read, pointed at the local stand-ins (CONTRACT.md variables). */
export function localPipelineEnv(options: {
  databaseUrl: string;
  queueUrl: string;
  stripeApiBase: string;
}): Record<string, string> {
  return {
    DATABASE_URL: options.databaseUrl,
    PAYOUT_QUEUE_URL: options.queueUrl,
    // The queue URL's own origin: the SDK sends there anyway, and warns when the two differ.
    AWS_ENDPOINT_URL_SQS: new URL(options.queueUrl).origin,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    STRIPE_SECRET_KEY: 'sk_test_local_stand_in',
    STRIPE_API_BASE: options.stripeApiBase,
  };
}
