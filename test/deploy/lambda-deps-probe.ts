import { type Kysely, sql } from 'kysely';
import type { Database } from '../../shared/db/database.ts';

/**
 * `node --import tsx lambda-deps-probe.ts <scan|transfer>`, run by deploy-rehearsal.test.ts in a
 * process whose environment is a deployed function's: builds that Lambda's dependencies as its
 * first invocation would (secrets read through Secrets Manager) and prints, as one JSON line, what
 * they reached. Transfer: one Stripe request, to STRIPE_API_BASE.
 */

/** The database reached, and as whom: each Lambda logs in as its own role's user. */
async function connection(db: Kysely<Database>): Promise<{ database: string; user: string }> {
  const { rows } = await sql<{ database: string; user: string }>`
    select current_database() as database, current_user as user`.execute(db);
  return { database: rows[0]?.database ?? '', user: rows[0]?.user ?? '' };
}

async function probe(lambda: string): Promise<Record<string, unknown>> {
  if (lambda === 'scan') {
    const { scanDeps } = await import('../../lambdas/scan/scan-deps.ts');
    const deps = await scanDeps();
    try {
      return { ...(await connection(deps.db)), config: deps.config };
    } finally {
      await deps.db.destroy();
    }
  }
  if (lambda === 'transfer') {
    const { transferDeps } = await import('../../lambdas/transfer/transfer-deps.ts');
    const deps = await transferDeps();
    try {
      await deps.stripe.transfers.list({ limit: 1 });
      return { ...(await connection(deps.db)), config: deps.config };
    } finally {
      await deps.db.destroy();
    }
  }
  throw new Error(`unknown Lambda "${lambda}": scan or transfer`);
}

try {
  console.log(JSON.stringify(await probe(process.argv[2] ?? '')));
  process.exit(0);
} catch (error) {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  process.exit(1);
}
