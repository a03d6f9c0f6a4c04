import Table from 'cli-table3';
import type { Output } from '../cli-deps.ts';

/** A human table, or nothing when there are no rows. */
export function printTable(out: Output, rows: Record<string, unknown>[]): void {
  const [first] = rows;
  if (!first) return;
  const table = new Table({ head: Object.keys(first), style: { head: [], border: [] } });
  for (const row of rows)
    table.push(
      Object.values(row).map((value) =>
        value === null || value === undefined ? '' : String(value),
      ),
    );
  out.log(table.toString());
}

export function printJson(out: Output, value: unknown): void {
  out.log(JSON.stringify(value, null, 2));
}

export function sumByCurrency(
  items: { amount: number; currency: string }[],
): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const { amount, currency } of items) totals[currency] = (totals[currency] ?? 0) + amount;
  return totals;
}

export function formatTotals(totals: Record<string, number>): string {
  const parts = Object.entries(totals).map(([currency, amount]) => `${amount} ${currency}`);
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}
