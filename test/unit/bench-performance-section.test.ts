import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type BenchResults, FIGURE_FIELDS } from '../../bench/figures.ts';
import {
  currentPerformanceSection,
  renderPerformanceSection,
} from '../../bench/performance-section.ts';

/**
 * The README's Performance section is rendered from the committed bench/results.json
 * (`npm run bench:readme`), never typed by hand; nothing here is timed.
 */
const ROOT = join(import.meta.dirname, '../..');
const results = JSON.parse(readFileSync(join(ROOT, 'bench/results.json'), 'utf8')) as BenchResults;

describe('bench/results.json and the README’s Performance section', () => {
  it('gives every figure a name, a value, a unit, a target and whether it is met', () => {
    expect(results.figures.length).toBeGreaterThan(0);
    for (const figure of results.figures) {
      for (const field of FIGURE_FIELDS) expect(figure, figure.name).toHaveProperty(field);
      expect(typeof figure.name).toBe('string');
      expect(Number.isFinite(figure.value), figure.name).toBe(true);
      expect(typeof figure.unit).toBe('string');
      // A figure has a target exactly when it says whether it is met.
      expect(figure.target === null, figure.name).toBe(figure.met === null);
      if (figure.target !== null) expect(typeof figure.met, figure.name).toBe('boolean');
    }
  });

  it('names a figure once', () => {
    const names = results.figures.map((figure) => figure.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('cites every price with its source and the date it was read', () => {
    expect(results.prices.length).toBeGreaterThan(0);
    for (const price of results.prices) {
      expect(price.source, price.item).toMatch(/^https:\/\/aws\.amazon\.com\//);
      expect(price.checked, price.item).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });

  it('holds exactly what npm run bench:readme renders from the committed results', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

    expect(currentPerformanceSection(readme)).toBe(renderPerformanceSection(results));
  });
});
