import type { Kysely } from 'kysely';
import type { Database } from './database.ts';

/** The mentors paid through this connected account (the marketplace's table; read only). */
export async function findMentorIdsByStripeAccount(
  db: Kysely<Database>,
  stripeAccountId: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom('mentors')
    .select('id')
    .where('stripe_account_id', '=', stripeAccountId)
    .orderBy('id')
    .execute();
  return rows.map((row) => row.id);
}

/** Whether the marketplace has a mentor with this id (operator commands name a mentor by id). */
export async function mentorExists(db: Kysely<Database>, mentorId: string): Promise<boolean> {
  const row = await db
    .selectFrom('mentors')
    .select('id')
    .where('id', '=', mentorId)
    .executeTakeFirst();
  return row !== undefined;
}
