import { type Kysely, Migrator } from 'kysely';
import { migrations } from './migrations/index.ts';

export interface MigrationReport {
  applied: string[];
}

/** Applies every pending migration; a second run applies nothing. */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works below the typed schema
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationReport> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results = [] } = await migrator.migrateToLatest();
  const failed = results.find((result) => result.status === 'Error');
  if (error || failed) {
    throw new Error(`Migration ${failed?.migrationName ?? ''} failed: ${String(error)}`, {
      cause: error,
    });
  }
  return { applied: results.map((result) => result.migrationName) };
}
