import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResults } from './figures.ts';
import { renderPerformanceSection, replacePerformanceSection } from './performance-section.ts';

/** `npm run bench:readme`: the README's Performance section from bench/results.json. */
const root = join(import.meta.dirname, '..');
const results = JSON.parse(readFileSync(join(root, 'bench/results.json'), 'utf8')) as BenchResults;
const readmePath = join(root, 'README.md');
writeFileSync(
  readmePath,
  replacePerformanceSection(readFileSync(readmePath, 'utf8'), renderPerformanceSection(results)),
);
console.log('README.md: Performance section rendered from bench/results.json');
