import { createDb } from '../shared/db/connect.ts';
import { migrateToLatest } from '../shared/db/migrate.ts';

/** `npm run migrate`: applies every pending migration to DATABASE_URL. */
const url = process.env.DATABASE_URL;
if (!url || !/^postgres(ql)?:\/\//.test(url)) {
  console.error('migrate: DATABASE_URL must be set to a postgres:// connection string');
  process.exit(2);
}
const db = createDb(url, { maxConnections: 1 });
try {
  const { applied } = await migrateToLatest(db);
  console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Already up to date.');
} catch (error) {
  console.error(`migrate: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
