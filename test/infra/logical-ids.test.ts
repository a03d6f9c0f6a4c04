import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.ts';

/**
 * Logical ids are a contract once deployed: CloudFormation replaces a resource whose id changes,
 * and a replaced queue loses its messages (prod retains the old one, orphaned). This pins every
 * logical id of the prod template with its type. A resource added on purpose is added to the pin
 * file by running the tests with PIN_LOGICAL_IDS=1; a pinned one may never change or go.
 */
const PIN_FILE = join(import.meta.dirname, 'prod-logical-ids.json');

function prodResources(): Record<string, string> {
  const app = new App({
    context: { env: 'prod', 'aws:cdk:bundling-stacks': [] },
    outdir: mkdtempSync(join(tmpdir(), 'payouts-cdk-')),
  });
  const [stack] = buildApp(app).stacks;
  if (!stack) throw new Error('no prod stack');
  const resources = Template.fromStack(stack).toJSON().Resources as Record<
    string,
    { Type: string }
  >;
  return Object.fromEntries(
    Object.entries(resources)
      .map(([id, resource]) => [id, resource.Type] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

describe('the prod template’s logical ids', () => {
  const current = prodResources();
  if (process.env.PIN_LOGICAL_IDS === '1') {
    writeFileSync(PIN_FILE, `${JSON.stringify(current, null, 2)}\n`);
  }
  const pinned = JSON.parse(readFileSync(PIN_FILE, 'utf8')) as Record<string, string>;

  it('keeps every pinned resource under its logical id and type', () => {
    const changed = Object.entries(pinned)
      .filter(([id, type]) => current[id] !== type)
      .map(([id, type]) => `${id} (${type}) is ${current[id] ? `now ${current[id]}` : 'gone'}`);
    expect(changed).toEqual([]);
  });

  it('has no resource that is not pinned (add new ones with PIN_LOGICAL_IDS=1 npx vitest run test/infra)', () => {
    const unpinned = Object.keys(current).filter((id) => !(id in pinned));
    expect(unpinned).toEqual([]);
  });
});
