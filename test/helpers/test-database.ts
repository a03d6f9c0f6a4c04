import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { createDb } from '../../shared/db/connect.ts';
import type { Database } from '../../shared/db/database.ts';

export interface TestDatabase {
  url: string;
  db: Kysely<Database>;
  close(): Promise<void>;
}

/** A fresh, migrated database cloned from the template the global setup prepared. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('postgresAdminUrl');
  const name = `test_${randomUUID().replaceAll('-', '')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  admin.on('error', () => {});
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${inject('templateDatabase')}`);
  } finally {
    await admin.end();
  }
  const url = adminUrl.replace(/\/postgres$/, `/${name}`);
  const db = createDb(url);
  return { url, db, close: () => db.destroy() };
}
