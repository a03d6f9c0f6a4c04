import { type Kysely, sql } from 'kysely';
import type { Database } from '../../shared/db/database.ts';

/**
 * `node --import tsx lambda-deps-probe.ts <scan|transfer>`, run by deploy-rehearsal.test.ts in a
 * process whose environment is a deployed function's: builds that Lambda's dependencies as its
 * first invocation would (secrets read through Secrets Manager) and prints, as one JSON line, what
 * they reached. Transfer: one Stripe request, to STRIPE_API_BASE.
 */

async function databaseName(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ name: string }>`select current_database() as name`.execute(db);
  return rows[0]?.name ?? '';
}

async function probe(lambda: string): Promise<Record<string, unknown>> {
  if (lambda === 'scan') {
    const { scanDeps } = await import('../../lambdas/scan/scan-deps.ts');
    const deps = await scanDeps();
    try {
      return { database: await databaseName(deps.db), config: deps.config };
    } finally {
      await deps.db.destroy();
    }
  }
  if (lambda === 'transfer') {
    const { transferDeps } = await import('../../lambdas/transfer/transfer-deps.ts');
    const deps = await transferDeps();
    try {
      await deps.stripe.transfers.list({ limit: 1 });
      return { database: await databaseName(deps.db), config: deps.config };
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
