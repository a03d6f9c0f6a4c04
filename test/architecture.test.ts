import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

/** Every module a file imports: relative ones resolved to repo paths, packages by name. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map(
    (match) => match[1] ?? '',
  );
  return specifiers.map((specifier) =>
    specifier.startsWith('.') ? relative(ROOT, resolve(ROOT, file, '..', specifier)) : specifier,
  );
}

describe('which way imports point', () => {
  it('infra imports no runtime code: only CDK, Node and the two constants modules of shared/', () => {
    const allowedShared = new Set(['shared/metric-names.ts', 'shared/runtime-limits.ts']);
    for (const file of sourceFiles('infra')) {
      for (const target of importsOf(file)) {
        const ok =
          target.startsWith('infra/') ||
          target.startsWith('node:') ||
          target.startsWith('aws-cdk-lib') ||
          target === 'constructs' ||
          target === 'cdk-nag' ||
          allowedShared.has(target);
        expect(ok, `${file} imports ${target}`).toBe(true);
      }
    }
  });

  it('shared imports neither the Lambdas, infra nor the local stand-ins', () => {
    for (const file of sourceFiles('shared')) {
      for (const target of importsOf(file)) {
        expect(
          /^(lambdas|infra|local|tools|test)\//.test(target),
          `${file} imports ${target}`,
        ).toBe(false);
      }
    }
  });

  it('the two Lambdas never import each other, infra or the stand-ins', () => {
    for (const [own, other] of [
      ['scan', 'transfer'],
      ['transfer', 'scan'],
    ]) {
      for (const file of sourceFiles(`lambdas/${own}`)) {
        for (const target of importsOf(file)) {
          expect(
            target.startsWith(`lambdas/${other}/`) || /^(infra|local|tools|test)\//.test(target),
            `${file} imports ${target}`,
          ).toBe(false);
        }
      }
    }
  });
});
