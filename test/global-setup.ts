import type { TestProject } from 'vitest/node';
import { createDatabaseLogins, type DatabaseLogins } from '../local/database-logins.ts';
import { startLocalPostgres } from '../local/local-postgres.ts';
import { createDb } from '../shared/db/connect.ts';
import { migrateToLatest } from '../shared/db/migrate.ts';

const TEMPLATE_DATABASE = 'payouts_template';

/**
 * One real PostgreSQL for the whole run; each test file clones the migrated template database. The
 * migrations run as the owner; the code under test connects as its role's login user (created here:
 * roles and users belong to the server, grants to each database, and so to each clone).
 */
export default async function setup(project: TestProject) {
  const postgres = await startLocalPostgres();
  const templateUrl = await postgres.createDatabase(TEMPLATE_DATABASE);
  const db = createDb(templateUrl);
  await migrateToLatest(db);
  await db.destroy();
  const logins = await createDatabaseLogins(templateUrl);
  project.provide('postgresAdminUrl', postgres.urlFor('postgres'));
  project.provide('templateDatabase', TEMPLATE_DATABASE);
  project.provide('databaseLogins', logins);
  return async () => {
    await postgres.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    /** The migrated database each test file clones (createTestDatabase). */
    templateDatabase: string;
    /** A login user per database role (local/database-logins.ts). */
    databaseLogins: DatabaseLogins;
  }
}
