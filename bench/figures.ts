/**
 * What `npm run bench` writes to bench/results.json and the README's Performance section is
 * rendered from. Every figure has all five fields; a figure without a target (a secondary one,
 * or a cost) has `target: null` and `met: null`.
 */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  target: string | null;
  met: boolean | null;
  /** Why a target was missed, or what a figure rests on, measured in the same run. */
  note?: string;
}

export interface PriceSource {
  item: string;
  price: number;
  unit: string;
  source: string;
  /** When the price was read (or confirmed) at the source. */
  checked: string;
}

export interface BenchResults {
  mode: 'quick' | 'full';
  measuredAt: string;
  machine: string;
  node: string;
  /** The sizes this mode uses, as the output says them. */
  sizes: Record<string, number>;
  figures: Figure[];
  prices: PriceSource[];
  /** What the cost table assumes beyond the measured figures. */
  costAssumptions: string[];
}

export const FIGURE_FIELDS = ['name', 'value', 'unit', 'target', 'met'] as const;

export const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

/** The nearest-rank percentile `p` (0–100) of the values. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

/** A figure with a target: `met` is computed here, from the value, never passed in. */
export function targetFigure(
  name: string,
  value: number,
  unit: string,
  target: { text: string; met: (value: number) => boolean },
  note?: string,
): Figure {
  return { name, value, unit, target: target.text, met: target.met(value), ...(note && { note }) };
}

export function secondaryFigure(name: string, value: number, unit: string, note?: string): Figure {
  return { name, value, unit, target: null, met: null, ...(note && { note }) };
}

export function formatFigureLine(figure: Figure): string {
  const mark = figure.met === null ? ' ' : figure.met ? '✓' : '✗';
  const target = figure.target === null ? '' : `target ${figure.target}`;
  return `${mark} ${figure.name.padEnd(64)} ${String(figure.value).padStart(12)} ${figure.unit.padEnd(14)} ${target}`;
}
