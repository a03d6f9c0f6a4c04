import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { environmentFromArgs, shellExports } from '../../tools/deploy-local.ts';

describe('npm run deploy:local arguments', () => {
  it('takes the environment as the CDK CLI does: -c env=<name> or --context env=<name>', () => {
    expect(environmentFromArgs(['-c', 'env=staging'])).toBe('staging');
    expect(environmentFromArgs(['--context', 'env=prod'])).toBe('prod');
  });

  it('refuses a missing, unknown or extra argument with the usage line', () => {
    for (const argv of [[], ['-c'], ['-c', 'region=eu-central-1'], ['-c', 'env=dev', '--keep']]) {
      expect(() => environmentFromArgs(argv), argv.join(' ')).toThrow(
        /usage: npm run deploy:local -- -c env=<dev\|staging\|prod>/,
      );
    }
    expect(() => environmentFromArgs(['-c', 'env=qa'])).toThrow(/Unknown environment "qa"/);
  });
});

describe('the file a shell sources to reach the rehearsal', () => {
  it('exports exactly the rehearsal variables when sourced by sh', () => {
    const variables = {
      AWS_ENDPOINT_URL: 'http://localhost:41234',
      AWS_REGION: 'eu-central-1',
      AWS_ACCESS_KEY_ID: 'rehearsal',
    };
    const dir = mkdtempSync(join(tmpdir(), 'payouts-env-'));
    const file = join(dir, 'deploy-dev.env');
    writeFileSync(file, shellExports(variables));

    const printed = execFileSync('/bin/sh', ['-c', `. "${file}" && env`], {
      env: {},
      encoding: 'utf8',
    });
    rmSync(dir, { recursive: true });

    const exported = Object.fromEntries(
      printed
        .trim()
        .split('\n')
        .filter((line) => line.startsWith('AWS_'))
        .map((line) => line.split('=', 2)),
    );
    expect(exported).toEqual(variables);
  });
});
