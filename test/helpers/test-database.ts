import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { databaseUrls } from '../../local/database-logins.ts';
import { createDb, type DbOptions } from '../../shared/db/connect.ts';
import type { Database } from '../../shared/db/database.ts';
import type { DatabaseRole } from '../../shared/db/database-roles.ts';

export interface TestDatabase {
  /** The owner's: the test's own arranging and checking, never the code under test. */
  url: string;
  /** The owner's handle, for arranging rows and checking them. */
  db: Kysely<Database>;
  /** Each role's connection string: the code under test connects as its own role. */
  urls: Record<DatabaseRole, string>;
  /** A handle as the role, one per role unless options are given (closed with the database). */
  dbAs(role: DatabaseRole, options?: DbOptions): Kysely<Database>;
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
  const urls = databaseUrls(url, inject('databaseLogins'));
  const db = createDb(url);
  const handles: Kysely<Database>[] = [];
  const shared = new Map<DatabaseRole, Kysely<Database>>();
  return {
    url,
    db,
    urls,
    dbAs(role, options) {
      const existing = options ? undefined : shared.get(role);
      if (existing) return existing;
      const handle = createDb(urls[role], options);
      handles.push(handle);
      if (!options) shared.set(role, handle);
      return handle;
    },
    close: async () => {
      await Promise.all([db, ...handles].map((handle) => handle.destroy()));
    },
  };
}
