import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPostgres } from '../../local/local-postgres.ts';
import { createDb } from '../../shared/db/connect.ts';
import type { Database } from '../../shared/db/database.ts';
import { DATABASE_ROLES, type DatabaseRole } from '../../shared/db/database-roles.ts';
import { migrateToLatest } from '../../shared/db/migrate.ts';
import { insertMentor, insertSession } from '../helpers/factories.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

/**
 * Least privilege, as the database enforces it (shared/db/migrations/0009-database-roles.ts): what
 * each role may do, exactly, and the writes that must be refused whatever bug or leaked credential
 * asks for them. The list below is the specification; a grant beyond it, a table without any
 * grant, or a default privilege fails here.
 */
const EXPECTED: Record<DatabaseRole, string[]> = {
  scan: [
    'payout_controls: SELECT',
    'payouts: SELECT',
    'scan_runs: INSERT, SELECT, UPDATE',
    'scan_runs_id_seq: USAGE',
    'sessions: SELECT',
  ],
  transfer: [
    'mentor_holds: SELECT',
    'mentors: SELECT',
    'payout_attempts: INSERT, SELECT',
    'payout_attempts_id_seq: USAGE',
    'payout_controls: SELECT',
    'payout_daily_totals: INSERT, SELECT, UPDATE',
    'payout_events: INSERT, SELECT, UPDATE',
    'payout_reservations: INSERT, SELECT, UPDATE',
    'payouts: INSERT, SELECT, UPDATE',
    'sessions: SELECT',
    'sessions.payout_status: UPDATE',
    'stripe_accounts: SELECT',
    'stripe_request_pacing: INSERT, SELECT, UPDATE',
  ],
  stripeEvents: [
    'mentors: SELECT',
    'payout_controls: SELECT',
    'payout_events: INSERT',
    'payout_events.id: SELECT',
    'payout_reversals: INSERT, SELECT',
    'payouts: SELECT',
    'sessions: SELECT',
    'stripe_accounts: INSERT, SELECT, UPDATE',
    'stripe_events: INSERT, SELECT, UPDATE',
    'stripe_request_pacing: INSERT, SELECT, UPDATE',
  ],
  reconcile: [
    'payout_reversals: SELECT',
    'payouts: SELECT',
    'reconciliation_runs: INSERT, SELECT, UPDATE',
    'reconciliation_runs_id_seq: USAGE',
    'stripe_request_pacing: INSERT, SELECT, UPDATE',
  ],
  payoutEvents: ['payout_events: SELECT, UPDATE'],
  operator: [
    'mentor_holds: SELECT',
    'mentor_holds.held_at: INSERT',
    'mentor_holds.held_by: INSERT',
    'mentor_holds.mentor_id: INSERT',
    'mentor_holds.reason: INSERT',
    'mentor_holds.release_reason: UPDATE',
    'mentor_holds.released_at: UPDATE',
    'mentor_holds.released_by: UPDATE',
    'mentor_holds_id_seq: USAGE',
    'mentors: SELECT',
    'payout_attempts: INSERT, SELECT',
    'payout_attempts_id_seq: USAGE',
    'payout_controls: SELECT, UPDATE',
    'payout_events: INSERT, SELECT',
    'payout_reversals: SELECT',
    'payouts: INSERT, SELECT, UPDATE',
    'scan_runs: SELECT',
    'sessions: SELECT',
    'sessions.payout_status: UPDATE',
    'stripe_accounts: SELECT',
    'stripe_request_pacing: INSERT, SELECT, UPDATE',
  ],
};

/** Every privilege a role holds in this database's schema, table- and column-level, one line per object. */
async function privilegesOf(db: Kysely<Database>, role: string): Promise<string[]> {
  const { rows } = await sql<{ object: string; privileges: string }>`
    with grants as (
      select c.relname as object, acl.privilege_type as privilege
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace and n.nspname = current_schema()
      cross join lateral aclexplode(c.relacl) acl
      where acl.grantee = (select oid from pg_roles where rolname = ${role})
      union all
      select c.relname || '.' || a.attname, acl.privilege_type
      from pg_attribute a
      join pg_class c on c.oid = a.attrelid
      join pg_namespace n on n.oid = c.relnamespace and n.nspname = current_schema()
      cross join lateral aclexplode(a.attacl) acl
      where acl.grantee = (select oid from pg_roles where rolname = ${role})
    )
    select object, string_agg(privilege, ', ' order by privilege) as privileges
    from grants group by object order by object collate "C"`.execute(db);
  return rows.map((row) => `${row.object}: ${row.privileges}`);
}

/** The Postgres error code a statement fails with (or 'none'). */
async function errorCodeOf(db: Kysely<Database>, statement: string): Promise<string> {
  try {
    await sql.raw(statement).execute(db);
    return 'none';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

const INSUFFICIENT_PRIVILEGE = '42501';

describe('database roles', () => {
  let database: TestDatabase;
  let sessionId: string;
  let mentorId: string;
  beforeAll(async () => {
    database = await createTestDatabase();
    mentorId = await insertMentor(database.db, { stripeAccountId: 'acct_roles' });
    sessionId = await insertSession(database.db, mentorId);
    await sql`insert into payout_attempts (session_id, outcome) values (${sessionId}, 'failed')`.execute(
      database.db,
    );
  });
  afterAll(async () => database.close());

  it.each(Object.keys(EXPECTED) as DatabaseRole[])(
    'grants the %s role exactly its list, and nothing by default',
    async (role) => {
      const privileges = await privilegesOf(database.db, DATABASE_ROLES[role]);

      expect(privileges).toEqual(EXPECTED[role]);
    },
  );

  it('grants every table of the schema to some role, and none to PUBLIC', async () => {
    const { rows: tables } = await sql<{ name: string }>`
      select tablename as name from pg_tables
      where schemaname = current_schema() and tablename not like 'kysely_migration%'
      order by tablename`.execute(database.db);
    const granted = new Set(
      Object.values(EXPECTED)
        .flat()
        .map((line) => line.split(/[.:]/)[0]),
    );
    const { rows: toPublic } = await sql<{ name: string }>`
      select c.relname as name from pg_class c
      join pg_namespace n on n.oid = c.relnamespace and n.nspname = current_schema()
      cross join lateral aclexplode(c.relacl) acl
      where acl.grantee = 0`.execute(database.db);

    expect(tables.length).toBeGreaterThan(10);
    expect(tables.map((table) => table.name).filter((name) => !granted.has(name))).toEqual([]);
    expect(toPublic).toEqual([]);
  });

  it('sets no default privileges, and no function runs with its owner’s rights', async () => {
    const { rows: defaults } = await sql`select * from pg_default_acl`.execute(database.db);
    const { rows: definers } = await sql<{ name: string }>`
      select p.proname as name from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace and n.nspname = current_schema()
      where p.prosecdef`.execute(database.db);

    expect(defaults).toEqual([]);
    expect(definers).toEqual([]);
  });

  it('makes the roles group roles: no login, no superuser, no role or database creation', async () => {
    const { rows } = await sql<Record<string, unknown>>`
      select rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls
      from pg_roles where rolname like 'payouts\_%' and rolname not like '%\_login'
      order by rolname`.execute(database.db);

    expect(rows).toEqual(
      Object.values(DATABASE_ROLES)
        .sort()
        .map((rolname) => ({
          rolname,
          rolcanlogin: false,
          rolsuper: false,
          rolcreaterole: false,
          rolcreatedb: false,
          rolbypassrls: false,
        })),
    );
  });

  describe('as the transfer role', () => {
    let transfer: Kysely<Database>;
    beforeAll(() => {
      transfer = database.dbAs('transfer');
    });

    it.each([
      ['UPDATE sessions SET price_amount', 'update sessions set price_amount = 1'],
      ['UPDATE sessions SET refunded_amount', 'update sessions set refunded_amount = 0'],
      ['UPDATE sessions SET status', "update sessions set status = 'confirmed'"],
      ['INSERT INTO sessions', 'insert into sessions select * from sessions limit 1'],
      ['DELETE FROM sessions', 'delete from sessions'],
      ['UPDATE mentors SET stripe_account_id', "update mentors set stripe_account_id = 'acct_x'"],
      ['DELETE FROM mentors', 'delete from mentors'],
      ['UPDATE payout_attempts', "update payout_attempts set outcome = 'paid'"],
      ['DELETE FROM payout_attempts', 'delete from payout_attempts'],
      ['DELETE FROM payouts', 'delete from payouts'],
      ['DELETE FROM payout_events', 'delete from payout_events'],
      ['TRUNCATE payout_attempts', 'truncate payout_attempts'],
      ['TRUNCATE sessions', 'truncate sessions'],
      ['TRUNCATE payouts', 'truncate payouts'],
      [
        'INSERT INTO mentor_holds',
        "insert into mentor_holds (mentor_id, reason, held_by) values (gen_random_uuid(), 'x', 'x')",
      ],
      ['UPDATE mentor_holds (release a hold)', 'update mentor_holds set released_at = now()'],
      ['DELETE FROM mentor_holds', 'delete from mentor_holds'],
      ['UPDATE payout_controls', 'update payout_controls set paused = false'],
      ['CREATE TABLE', 'create table payouts_own (id int)'],
    ])('is refused %s (insufficient_privilege)', async (_, statement) => {
      expect(await errorCodeOf(transfer, statement)).toBe(INSUFFICIENT_PRIVILEGE);
    });

    it.each([
      'drop table payout_attempts',
      'drop table sessions',
      'drop table payouts',
      'alter table sessions drop column price_amount',
      'drop trigger payout_attempts_append_only on payout_attempts',
      'drop function payout_attempts_append_only()',
    ])('is refused "%s": only the owner may (must be owner)', async (statement) => {
      expect(await errorCodeOf(transfer, statement)).toBe(INSUFFICIENT_PRIVILEGE);
      const message = await sql
        .raw(statement)
        .execute(transfer)
        .then(
          () => '',
          (error: Error) => error.message,
        );
      expect(message).toMatch(/^must be owner of (table|relation|function) /);
    });

    it('may mark a session paid out, and change nothing else of it', async () => {
      const update = await errorCodeOf(
        transfer,
        `update sessions set payout_status = 'paid_out' where id = '${sessionId}'`,
      );
      const row = await database.db
        .selectFrom('sessions')
        .select(['payout_status', 'price_amount'])
        .where('id', '=', sessionId)
        .executeTakeFirstOrThrow();
      await database.db
        .updateTable('sessions')
        .set({ payout_status: 'pending' })
        .where('id', '=', sessionId)
        .execute();

      expect(update).toBe('none');
      expect(row.payout_status).toBe('paid_out');
    });
  });

  describe('as the scan role', () => {
    it.each([
      ['UPDATE sessions SET payout_status', "update sessions set payout_status = 'paid_out'"],
      ['UPDATE sessions SET price_amount', 'update sessions set price_amount = 1'],
      [
        'INSERT INTO payout_attempts',
        `insert into payout_attempts (session_id, outcome) select id, 'paid' from sessions`,
      ],
      ['UPDATE payouts', "update payouts set state = 'paid'"],
      ['DELETE FROM sessions', 'delete from sessions'],
      ['TRUNCATE sessions', 'truncate sessions'],
      ['SELECT ... FOR UPDATE on sessions', 'select id from sessions for update'],
    ])('is refused %s (insufficient_privilege)', async (_, statement) => {
      expect(await errorCodeOf(database.dbAs('scan'), statement)).toBe(INSUFFICIENT_PRIVILEGE);
    });
  });

  describe('as the operator role', () => {
    it.each([
      ['sessions.price_amount', 'update sessions set price_amount = 1'],
      ['sessions.refunded_amount', 'update sessions set refunded_amount = 0'],
      ['sessions.currency', "update sessions set currency = 'usd'"],
      ['sessions.stripe_charge_id', 'update sessions set stripe_charge_id = null'],
      ['sessions.mentor_id', 'update sessions set mentor_id = mentor_id'],
      ['sessions.status', "update sessions set status = 'confirmed'"],
      ['mentors.stripe_account_id', "update mentors set stripe_account_id = 'acct_x'"],
      [
        'stripe_accounts (a connected account’s standing)',
        "update stripe_accounts set transfers_capability = 'active'",
      ],
      [
        'payout_daily_totals (the daily limits’ running totals)',
        'update payout_daily_totals set amount = 0',
      ],
      ['payout_reservations', 'update payout_reservations set released_at = now()'],
      [
        'a hold’s reason (who held and why stay as written)',
        "update mentor_holds set reason = 'x'",
      ],
      ['a hold’s held_by', "update mentor_holds set held_by = 'x'"],
      ['a hold’s mentor', 'update mentor_holds set mentor_id = gen_random_uuid()'],
      ['a hold’s held_at', 'update mentor_holds set held_at = now()'],
      [
        'mentor_holds by inserting a hold already released',
        `insert into mentor_holds (mentor_id, reason, held_by, held_at, released_by, released_at)
         select id, 'x', 'x', now(), 'x', now() from mentors limit 1`,
      ],
      ['payout_reversals (what Stripe reversed)', 'update payout_reversals set amount = 1'],
      ['payout_attempts', "update payout_attempts set outcome = 'paid'"],
      ['payout_events (the outbox)', 'update payout_events set published_at = now()'],
      ['scan_runs', 'update scan_runs set error = null'],
    ])('cannot change %s (insufficient_privilege)', async (_, statement) => {
      expect(await errorCodeOf(database.dbAs('operator'), statement)).toBe(INSUFFICIENT_PRIVILEGE);
    });

    it.each([
      'delete from payout_attempts',
      'delete from payouts',
      'delete from sessions',
      'delete from mentor_holds',
      'delete from payout_reversals',
      'truncate payout_attempts',
      'truncate mentor_holds',
    ])('cannot "%s" (insufficient_privilege)', async (statement) => {
      expect(await errorCodeOf(database.dbAs('operator'), statement)).toBe(INSUFFICIENT_PRIVILEGE);
    });
  });

  it.each(['stripeEvents', 'reconcile', 'payoutEvents'] as const)(
    'refuses the %s role any write to sessions, mentors or payout_attempts',
    async (role) => {
      const db = database.dbAs(role);
      const codes = [
        await errorCodeOf(db, "update sessions set payout_status = 'paid_out'"),
        await errorCodeOf(db, "update mentors set stripe_account_id = 'acct_x'"),
        await errorCodeOf(db, 'delete from payout_attempts'),
        await errorCodeOf(db, 'truncate payouts'),
      ];

      expect(codes).toEqual(Array(4).fill(INSUFFICIENT_PRIVILEGE));
    },
  );

  describe('on the tables added with holds, reversals and the outbox', () => {
    it.each([
      [
        'scan',
        "insert into mentor_holds (mentor_id, reason, held_by, held_at) values (gen_random_uuid(), 'x', 'x', now())",
      ],
      ['scan', 'update mentor_holds set released_at = now()'],
      [
        'stripeEvents',
        "insert into mentor_holds (mentor_id, reason, held_by, held_at) values (gen_random_uuid(), 'x', 'x', now())",
      ],
      ['stripeEvents', 'update mentor_holds set released_at = now()'],
      ['stripeEvents', 'select detail from payout_events'],
      ['stripeEvents', 'update payout_events set published_at = now()'],
      ['stripeEvents', 'delete from payout_events'],
      ['stripeEvents', 'update payout_reversals set amount = 1'],
      ['stripeEvents', 'delete from payout_reversals'],
      ['reconcile', 'insert into payout_reversals select * from payout_reversals'],
      ['reconcile', 'update payout_reversals set amount = 1'],
      ['reconcile', 'update mentor_holds set released_at = now()'],
      [
        'payoutEvents',
        "insert into payout_events (event_type, session_id, detail, occurred_at) values ('payout.paid', gen_random_uuid(), '{}', now())",
      ],
      ['payoutEvents', 'delete from payout_events'],
      ['payoutEvents', 'select * from mentor_holds'],
      ['transfer', 'insert into payout_reversals select * from payout_reversals'],
      ['transfer', 'select * from payout_reversals'],
    ] as const)('refuses the %s role "%s" (insufficient_privilege)', async (role, statement) => {
      expect(await errorCodeOf(database.dbAs(role), statement)).toBe(INSUFFICIENT_PRIVILEGE);
    });
  });

  it('lets each login user in as its role only, never as the owner', async () => {
    const users: string[] = [];
    for (const url of Object.values(database.urls)) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query<{ user: string; superuser: string }>(
        "select current_user as user, current_setting('is_superuser') as superuser",
      );
      await client.end();
      users.push(`${rows[0]?.user} ${rows[0]?.superuser}`);
    }

    expect(users).toEqual(Object.values(DATABASE_ROLES).map((role) => `${role}_login off`));
  });
});

describe('the README’s SQL for an existing database (Deploy, step 4), as written', () => {
  it('gives each role a login user, after the migrations on a fresh server, that connects as it and is refused what it is refused', async () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```sql\n([\s\S]*?)```/g)].map((match) =>
      (match[1] ?? '').replace(/^ {3}/gm, ''),
    );
    expect(blocks).toHaveLength(1);
    const passwords = new Map<string, string>();
    const script = (blocks[0] ?? '')
      .replace(/'<([\w-]+) password>'/g, (_, name: string) => {
        const password = randomBytes(12).toString('hex');
        passwords.set(`payouts_${name.replaceAll('-', '_')}`, password);
        return `'${password}'`;
      })
      .replace('<dbname>', 'marketplace');
    // Roles belong to a server: this one has none of the test run's.
    const server = await startLocalPostgres();
    const logins: string[] = [];
    try {
      const ownerUrl = await server.createDatabase('marketplace');
      const owner = createDb(ownerUrl, { maxConnections: 1 });
      await migrateToLatest(owner);
      await owner.destroy();
      const client = new pg.Client({ connectionString: ownerUrl });
      await client.connect();
      await client.query(script);
      await client.end();

      for (const role of Object.values(DATABASE_ROLES)) {
        const url = new URL(ownerUrl);
        url.username = `${role}_login`;
        url.password = passwords.get(role) ?? '';
        const login = new pg.Client({ connectionString: url.toString() });
        await login.connect();
        const { rows } = await login.query<{ user: string }>('select current_user as user');
        const refused = await login.query('update sessions set price_amount = 1').then(
          () => 'allowed',
          (error: { code?: string }) => error.code,
        );
        await login.end();
        logins.push(`${rows[0]?.user}: ${refused}`);
      }
    } finally {
      await server.stop();
    }

    expect(logins).toEqual(
      Object.values(DATABASE_ROLES).map((role) => `${role}_login: ${INSUFFICIENT_PRIVILEGE}`),
    );
  }, 60_000);
});
