import { isIPv4 } from 'node:net';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type pg from 'pg';
import { z } from 'zod';
import type { DatabaseSource, StripeKeySource } from './config.ts';
import { ConfigError } from './errors.ts';

/**
 * Secrets are cached per container and re-read after this long, so a rotation takes effect within
 * it; a database login refused for its credentials re-reads the secret at once (createRotatingDb).
 */
export const SECRET_MAX_AGE_SECONDS = 300;

export interface SecretReadOptions {
  /** Read the secret now instead of from the cache. */
  refresh?: boolean;
  maxAgeSeconds?: number;
}

const rdsSecretSchema = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().positive().default(5432),
  username: z.string().min(1),
  password: z.string().min(1),
  dbname: z.string().min(1).default('postgres'),
  // Not an RDS field: the local deploy rehearsal's Postgres has no TLS (see databaseTls).
  sslmode: z.enum(['verify-full', 'disable']).default('verify-full'),
});

/** DATABASE_URL locally; in Lambda, the RDS-format secret named by DB_SECRET_ARN. */
export async function resolveDatabaseConnection(
  source: DatabaseSource,
  options: SecretReadOptions = {},
): Promise<string | pg.PoolConfig> {
  if ('url' in source) return source.url;
  const raw = await getSecret(source.secretArn, { transform: 'json', ...cacheOptions(options) });
  const parsed = rdsSecretSchema.safeParse(raw);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => issue.path.join('.')).join(', ');
    throw new ConfigError(
      `Secret DB_SECRET_ARN is not an RDS credentials secret (bad fields: ${fields})`,
    );
  }
  const { host, port, username, password, dbname } = parsed.data;
  return {
    host,
    port,
    user: username,
    password,
    database: dbname,
    ssl: databaseTls(parsed.data),
  };
}

/** STRIPE_SECRET_KEY locally; in Lambda, the secret named by STRIPE_SECRET_ARN (the bare key). */
export async function resolveStripeKey(
  source: StripeKeySource,
  options: SecretReadOptions = {},
): Promise<string> {
  if ('key' in source) return source.key;
  const raw = await getSecret(source.secretArn, cacheOptions(options));
  const key = typeof raw === 'string' ? raw.trim() : '';
  if (!/^(sk|rk)_\w+$/.test(key)) {
    throw new ConfigError(
      'Secret STRIPE_SECRET_ARN does not hold a Stripe secret key (sk_… or rk_…)',
    );
  }
  return key;
}

function cacheOptions(options: SecretReadOptions) {
  return {
    maxAge: options.maxAgeSeconds ?? SECRET_MAX_AGE_SECONDS,
    ...(options.refresh && { forceFetch: true }),
  };
}

/**
 * TLS with a verified certificate, always, except for a database on this machine's loopback whose
 * secret says `"sslmode": "disable"` (the deploy rehearsal's Postgres): no secret can turn
 * verification off for a database reached over a network.
 */
export function databaseTls(secret: {
  host: string;
  sslmode: 'verify-full' | 'disable';
}): pg.PoolConfig['ssl'] {
  if (secret.sslmode === 'verify-full') return { rejectUnauthorized: true };
  if (!isLoopbackAddress(secret.host)) {
    throw new ConfigError(
      'Secret DB_SECRET_ARN says sslmode "disable", which is accepted only for a loopback host (127.0.0.1, ::1)',
    );
  }
  return false;
}

// An address, never a name: no resolver can send a loopback-looking name somewhere else.
function isLoopbackAddress(host: string): boolean {
  return host === '::1' || (isIPv4(host) && host.startsWith('127.'));
}
