import { randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  DATABASE_ROLE_NAMES,
  DATABASE_ROLES,
  type DatabaseRole,
} from '../shared/db/database-roles.ts';

/**
 * A login user for each database role (shared/db/database-roles.ts) on the local PostgreSQL of
 * `npm start`, the tests and the deploy rehearsal: so that the code runs here as it runs deployed,
 * and a missing grant fails here first.
 */
export interface DatabaseLogin {
  /** The group role it is a member of. */
  role: string;
  user: string;
  password: string;
}

export type DatabaseLogins = Record<DatabaseRole, DatabaseLogin>;

/**
 * Creates (or, if it exists, gives a new password to) a LOGIN user for each role, a member of it and
 * of nothing else, as README's Deploy steps do by hand. Roles belong to the cluster: run it after
 * the migrations of any database on the server, as a user that may create roles.
 */
export async function createDatabaseLogins(ownerUrl: string): Promise<DatabaseLogins> {
  const client = new pg.Client({ connectionString: ownerUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const logins = {} as DatabaseLogins;
    for (const name of DATABASE_ROLE_NAMES) {
      const role = DATABASE_ROLES[name];
      const login = {
        role,
        user: `${role}_login`,
        password: randomBytes(18).toString('base64url'),
      };
      const user = client.escapeIdentifier(login.user);
      const password = client.escapeLiteral(login.password);
      const { rowCount } = await client.query('select 1 from pg_roles where rolname = $1', [
        login.user,
      ]);
      await client.query(
        rowCount
          ? `alter role ${user} with login password ${password}`
          : `create role ${user} with login password ${password}`,
      );
      await client.query(`grant ${client.escapeIdentifier(role)} to ${user}`);
      logins[name] = login;
    }
    return logins;
  } finally {
    await client.end();
  }
}

/** The same connection string with a role's login user and password instead of the owner's. */
export function databaseUrlAs(ownerUrl: string, login: DatabaseLogin): string {
  const url = new URL(ownerUrl);
  url.username = encodeURIComponent(login.user);
  url.password = encodeURIComponent(login.password);
  return url.toString();
}

/** Every role's connection string for one database. */
export function databaseUrls(
  ownerUrl: string,
  logins: DatabaseLogins,
): Record<DatabaseRole, string> {
  return Object.fromEntries(
    DATABASE_ROLE_NAMES.map((name) => [name, databaseUrlAs(ownerUrl, logins[name])]),
  ) as Record<DatabaseRole, string>;
}
