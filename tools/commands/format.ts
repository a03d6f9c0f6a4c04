import { stripVTControlCharacters, styleText } from 'node:util';
import Table from 'cli-table3';

/**
 * How the CLI and `npm start` print for a person: money in major units with its currency, times
 * local and relative, colour only on a terminal that wants it, tables that fit the terminal.
 * `--json` keeps minor units and ISO timestamps.
 */

/** Where the commands print: the console by default, a buffer in tests. */
export interface Output {
  log(text: string): void;
  error(text: string): void;
  /** A terminal gets a progress bar, a pipe plain counts. */
  isTTY: boolean;
  /** The terminal's width, which tables fit; undefined when stdout is not a terminal. */
  columns: number | undefined;
  /** Colour on stdout and on stderr (a terminal with colours, no NO_COLOR). */
  colour: boolean;
  errorColour: boolean;
}

/** Stripe's zero- and three-decimal currencies; every other currency has two decimals. */
const ZERO_DECIMAL = new Set(
  'bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf'.split(' '),
);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

export function minorUnitDigits(currency: string): number {
  if (ZERO_DECIMAL.has(currency)) return 0;
  return THREE_DECIMAL.has(currency) ? 3 : 2;
}

/** `7200, 'usd'` → `$72.00`; `4000, 'jpy'` → `¥4,000`. */
export function formatMoney(amount: number, currency: string): string {
  const digits = minorUnitDigits(currency);
  try {
    return new Intl.NumberFormat('en-US', {
      style: 'currency',
      currency: currency.toUpperCase(),
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(amount / 10 ** digits);
  } catch {
    // Not an ISO 4217 code (an invalid_session_row): the raw amount says what is stored.
    return `${amount} ${currency}`;
  }
}

export function sumByCurrency(
  items: { amount: number; currency: string }[],
): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const { amount, currency } of items) totals[currency] = (totals[currency] ?? 0) + amount;
  return totals;
}

export function formatTotals(totals: Record<string, number>): string {
  const parts = Object.entries(totals).map(([currency, amount]) => formatMoney(amount, currency));
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}

/** `3 h ago`, `in 20 min`: how a person at 3 a.m. reads a time. */
export function relativeTime(date: Date, now: Date): string {
  const seconds = Math.round((now.getTime() - date.getTime()) / 1000);
  const magnitude = Math.abs(seconds);
  const [value, unit] =
    magnitude < 90
      ? [magnitude, 's']
      : magnitude < 90 * 60
        ? [Math.round(magnitude / 60), 'min']
        : magnitude < 36 * 3600
          ? [Math.round(magnitude / 3600), 'h']
          : [Math.round(magnitude / 86_400), 'd'];
  if (magnitude < 5) return 'just now';
  return seconds >= 0 ? `${value} ${unit} ago` : `in ${value} ${unit}`;
}

/** Local wall-clock time, unambiguous in any locale: `2026-12-04 18:08`. */
export function localTime(date: Date): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** `2026-12-04 18:08 (3 h ago)`. */
export function formatWhen(date: Date, now: Date): string {
  return `${localTime(date)} (${relativeTime(date, now)})`;
}

export type Tone = 'alert' | 'warning' | 'good' | 'dim' | 'bold';
const TONE_STYLE: Record<Tone, Parameters<typeof styleText>[0]> = {
  alert: ['red', 'bold'],
  warning: 'yellow',
  good: 'green',
  dim: 'dim',
  bold: 'bold',
};

/**
 * Colours text when `enabled` (the Output decided it per stream: a terminal, no NO_COLOR); Node's
 * own check would look at stdout even for text bound for stderr.
 */
export function paint(enabled: boolean, tone: Tone, text: string): string {
  return enabled ? styleText(TONE_STYLE[tone], text, { validateStream: false }) : text;
}

export function printJson(out: Output, value: unknown): void {
  out.log(JSON.stringify(value, null, 2));
}

export interface Column {
  header: string;
  /** Long text that may wrap onto more lines (ids never do: they are copied into commands). */
  wrap?: boolean;
}

const MIN_WRAPPED_WIDTH = 12;
const visibleLength = (text: string) => stripVTControlCharacters(text).length;

/**
 * A table for a person, or nothing when there are no rows. On a terminal it fits the width:
 * long text wraps; when even that cannot fit, each row is printed as a block of `name: value` lines.
 */
export function printTable(out: Output, columns: Column[], rows: string[][]): void {
  if (rows.length === 0) return;
  const natural = columns.map(
    (column, index) =>
      Math.max(
        visibleLength(column.header),
        ...rows.flatMap((row) => (row[index] ?? '').split('\n').map(visibleLength)),
      ) + 2,
  );
  const widths = fitWidths(columns, natural, out.columns);
  if (!widths) {
    printRecords(out, columns, rows);
    return;
  }
  const table = new Table({
    head: columns.map((column) => paint(out.colour, 'bold', column.header)),
    colWidths: widths,
    style: { head: [], border: [] },
  });
  for (const row of rows) {
    table.push(
      columns.map((column, index) => {
        const cell = row[index] ?? '';
        return column.wrap ? wrapText(cell, (widths[index] ?? 0) - 2) : cell;
      }),
    );
  }
  out.log(table.toString());
}

/** Column widths (with padding) that fit `limit`, narrowing wrapping columns; undefined if none do. */
function fitWidths(
  columns: Column[],
  natural: number[],
  limit: number | undefined,
): number[] | undefined {
  const widths = [...natural];
  const total = () => widths.reduce((sum, width) => sum + width, 0) + widths.length + 1;
  if (limit === undefined) return widths;
  while (total() > limit) {
    const candidates = columns
      .map((column, index) => ({ column, index, width: widths[index] ?? 0 }))
      .filter(({ column, width }) => column.wrap && width > MIN_WRAPPED_WIDTH)
      .sort((a, b) => b.width - a.width);
    const widest = candidates[0];
    if (!widest) return undefined;
    widths[widest.index] = Math.max(MIN_WRAPPED_WIDTH, widest.width - (total() - limit));
  }
  return widths;
}

function printRecords(out: Output, columns: Column[], rows: string[][]): void {
  const labelWidth = Math.max(...columns.map((column) => column.header.length));
  const valueWidth = Math.max(MIN_WRAPPED_WIDTH, (out.columns ?? 80) - labelWidth - 4);
  const blocks = rows.map((row) =>
    columns
      .flatMap((column, index) => {
        const lines = wrapText(row[index] ?? '', valueWidth).split('\n');
        return lines.map(
          (line, at) =>
            `${at === 0 ? paint(out.colour, 'bold', column.header.padEnd(labelWidth)) : ' '.repeat(labelWidth)}  ${line}`,
        );
      })
      .join('\n'),
  );
  out.log(blocks.join('\n\n'));
}

/** Wraps at spaces, underscores, hyphens and slashes where it can, and mid-word where it must. */
export function wrapText(text: string, width: number): string {
  if (width < 1) return text;
  return text
    .split('\n')
    .flatMap((paragraph) => {
      const lines: string[] = [];
      let rest = paragraph;
      while (visibleLength(rest) > width) {
        const head = rest.slice(0, width + 1);
        const breakAt = Math.max(
          head.lastIndexOf(' '),
          head.lastIndexOf('_') + 1,
          head.lastIndexOf('-') + 1,
          head.lastIndexOf('/') + 1,
        );
        const cut = breakAt > width / 3 && breakAt <= width ? breakAt : width;
        lines.push(rest.slice(0, cut).trimEnd());
        rest = rest.slice(cut).trimStart();
      }
      lines.push(rest);
      return lines;
    })
    .join('\n');
}

/**
 * Wraps each line wider than `columns` at spaces, colour codes kept (a line's colour runs on into
 * its continuation, as the terminal shows it); a word wider than the terminal is left whole.
 */
export function wrapToWidth(text: string, columns: number | undefined): string {
  if (!columns) return text;
  return text
    .split('\n')
    .flatMap((line) => {
      if (visibleLength(line) <= columns) return [line];
      const lines: string[] = [];
      let current = '';
      for (const word of line.split(' ')) {
        const candidate = current ? `${current} ${word}` : word;
        if (current && visibleLength(candidate) > columns) {
          lines.push(current);
          current = `  ${word}`;
        } else {
          current = candidate;
        }
      }
      lines.push(current);
      return lines;
    })
    .join('\n');
}
