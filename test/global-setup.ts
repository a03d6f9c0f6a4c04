import type { TestProject } from 'vitest/node';
import { startLocalPostgres } from '../local/local-postgres.ts';
import { createDb } from '../shared/db/connect.ts';
import { migrateToLatest } from '../shared/db/migrate.ts';

const TEMPLATE_DATABASE = 'payouts_template';

/** One real PostgreSQL for the whole run; each test file clones the migrated template database. */
export default async function setup(project: TestProject) {
  const postgres = await startLocalPostgres();
  const templateUrl = await postgres.createDatabase(TEMPLATE_DATABASE);
  const db = createDb(templateUrl);
  await migrateToLatest(db);
  await db.destroy();
  project.provide('postgresAdminUrl', postgres.urlFor('postgres'));
  project.provide('templateDatabase', TEMPLATE_DATABASE);
  return async () => {
    await postgres.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    /** The migrated database each test file clones (createTestDatabase). */
    templateDatabase: string;
  }
}
