import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  formatMoney,
  type Output,
  paint,
  printTable,
  relativeTime,
  wrapToWidth,
} from '../../tools/commands/format.ts';

function terminal(columns: number | undefined): Output & { text(): string } {
  const lines: string[] = [];
  return {
    log: (text) => lines.push(text),
    error: () => {},
    isTTY: columns !== undefined,
    columns,
    colour: false,
    errorColour: false,
    text: () => lines.join('\n'),
  };
}

const widest = (text: string) =>
  Math.max(
    ...stripVTControlCharacters(text)
      .split('\n')
      .map((line) => line.length),
  );

describe('formatMoney', () => {
  it.each([
    [7200, 'usd', '$72.00'],
    [4800, 'eur', '€48.00'],
    [4000, 'jpy', '¥4,000'],
    [1_400_000, 'krw', '₩1,400,000'],
    [12_345, 'bhd', 'BHD\u00a012.345'],
    [5, 'usd', '$0.05'],
  ])('%i %s is %s: major units, the currency’s own minor-unit digits', (amount, currency, text) => {
    expect(formatMoney(amount, currency)).toBe(text);
  });

  it('shows a stored amount as it is when the currency is not ISO 4217', () => {
    expect(formatMoney(100, 'xx1')).toBe('100 xx1');
  });
});

describe('relativeTime', () => {
  const now = new Date('2026-12-04T12:00:00Z');
  const ago = (ms: number) => new Date(now.getTime() - ms);

  it.each([
    [2_000, 'just now'],
    [45_000, '45 s ago'],
    [20 * 60_000, '20 min ago'],
    [3 * 3_600_000, '3 h ago'],
    [24 * 3_600_000, '24 h ago'],
    [7 * 86_400_000, '7 d ago'],
    [-20 * 60_000, 'in 20 min'],
  ])('%i ms before now reads %s', (ms, text) => {
    expect(relativeTime(ago(ms), now)).toBe(text);
  });
});

describe('printTable', () => {
  const columns = [
    { header: 'session' },
    { header: 'mentor' },
    { header: 'code', wrap: true },
    { header: 'owed' },
  ];
  const rows = [
    [
      'b0000000-0000-4000-8000-000000000001',
      '22222222-2222-4222-8222-222222222222',
      'insufficient_capabilities_for_transfer',
      '$72.00',
    ],
  ];

  it('prints at its natural width when piped', () => {
    const out = terminal(undefined);

    printTable(out, columns, rows);

    expect(out.text()).toContain('insufficient_capabilities_for_transfer');
    expect(widest(out.text())).toBeGreaterThan(120);
  });

  it('wraps long text, never an id, to fit 120 columns', () => {
    const out = terminal(120);

    printTable(out, columns, rows);

    expect(widest(out.text())).toBeLessThanOrEqual(120);
    expect(out.text()).toContain('b0000000-0000-4000-8000-000000000001');
    expect(out.text()).toContain('insufficient_');
  });

  it('prints each row as a block when even wrapping cannot fit 80 columns', () => {
    const out = terminal(80);

    printTable(out, columns, rows);

    expect(widest(out.text())).toBeLessThanOrEqual(80);
    expect(out.text()).toContain('session  b0000000-0000-4000-8000-000000000001');
  });

  it('prints nothing for no rows', () => {
    const out = terminal(80);

    printTable(out, columns, []);

    expect(out.text()).toBe('');
  });
});

describe('wrapToWidth', () => {
  it('wraps prose at spaces and keeps a coloured line’s codes', () => {
    const line = paint(
      true,
      'alert',
      'Payouts PAUSED by someone at some time for a reason that is long',
    );

    const wrapped = wrapToWidth(line, 30);

    expect(widest(wrapped)).toBeLessThanOrEqual(30);
    expect(wrapped.startsWith('\u001b[31m')).toBe(true);
    expect(stripVTControlCharacters(wrapped).replaceAll('\n  ', ' ')).toBe(
      stripVTControlCharacters(line),
    );
  });
});
