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
  it('infra imports no runtime code: only CDK, Node and the constants modules of shared/', () => {
    const allowedShared = new Set([
      'shared/metric-names.ts',
      'shared/runtime-limits.ts',
      'shared/db/database-roles.ts',
    ]);
    // A constants module imports nothing, so nothing of the runtime comes with it.
    for (const constants of allowedShared) expect(importsOf(constants), constants).toEqual([]);
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

  it('no Lambda imports another, infra or the stand-ins', () => {
    const lambdas = readdirSync(join(ROOT, 'lambdas'));
    expect(lambdas.sort()).toEqual([
      'payout-events',
      'reconcile',
      'scan',
      'stripe-events',
      'transfer',
    ]);
    for (const own of lambdas) {
      for (const file of sourceFiles(`lambdas/${own}`)) {
        for (const target of importsOf(file)) {
          expect(
            (target.startsWith('lambdas/') && !target.startsWith(`lambdas/${own}/`)) ||
              /^(infra|local|tools|test)\//.test(target),
            `${file} imports ${target}`,
          ).toBe(false);
        }
      }
    }
  });
});

describe('where queries live', () => {
  // Every query is a repository function in shared/db (migrations included), so the scan, the
  // Lambda and the CLI cannot each say in SQL what a rule means. The exceptions, and why:
  const NOT_PAYOUT_QUERIES: Record<string, string> = {
    // The marketplace owns mentors and sessions; payouts never inserts them, so no repository does.
    'local/demo-data.ts': 'seeds the demo marketplace for npm start',
    'local/local-postgres.ts': 'creates databases on the throw-away server',
    'local/database-logins.ts':
      'creates the login users of the database roles, as deploy step 4 does',
  };
  const QUERY_BUILDING =
    /\.(selectFrom|selectNoFrom|updateTable|insertInto|deleteFrom|replaceInto|mergeInto|executeQuery|query)\s*\(|\bsql\s*(<[^`;]*>)?\s*`|\bsql\.\w+\(|\bCompiledQuery\b/;

  it('builds no query outside shared/db: lambdas, tools, local and shared call repositories', () => {
    const files = ['lambdas', 'tools', 'local', 'shared']
      .flatMap(sourceFiles)
      .filter((file) => !file.startsWith('shared/db/') && !(file in NOT_PAYOUT_QUERIES));
    const offences = files.flatMap((file) =>
      withoutComments(readFileSync(join(ROOT, file), 'utf8'))
        .split('\n')
        .flatMap((line, index) =>
          QUERY_BUILDING.test(line) ? [`${file}:${index + 1}: ${line.trim()}`] : [],
        ),
    );

    expect(offences).toEqual([]);
  });

  it('catches each way of building a query', () => {
    for (const line of [
      "db.selectFrom('sessions')",
      "trx.updateTable('sessions')",
      "db.insertInto('payout_attempts')",
      "db.deleteFrom('payouts')",
      'sql`select 1`',
      'sql<{ n: number }>`select 1 as n`',
      "sql.raw('select 1')",
      "client.query('select 1')",
    ]) {
      expect(QUERY_BUILDING.test(line), line).toBe(true);
    }
  });
});

/** Comments may name a query builder; only code counts. Line numbers are kept. */
function withoutComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ''))
    .replace(/(^|[^:])\/\/.*$/gm, '$1');
}
