import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { join, resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { environmentFromContext } from '../../infra/environments.ts';
import { PayoutsStack } from '../../infra/payouts-stack.ts';

const ROOT = resolve(import.meta.dirname, '../..');

describe('Lambda bundles (real esbuild bundling)', () => {
  it('bundles each handler into one file that loads as CommonJS and exports handler without I/O', () => {
    // Inside the repository, so that the loaded bundle resolves the AWS SDK from its node_modules;
    // created here, never assumed left behind by a synth.
    mkdirSync(join(ROOT, 'cdk.out'), { recursive: true });
    const outdir = mkdtempSync(join(ROOT, 'cdk.out', 'bundle-test-'));
    const app = new App({ context: { env: 'staging' }, outdir });
    // Staging with Stripe's events, so that all three Lambdas are bundled.
    new PayoutsStack(app, 'Payouts-staging', {
      config: {
        ...environmentFromContext('staging'),
        stripeEvents: { eventSourceName: 'aws.partner/stripe.com/ed_bundle_test' },
      },
    });

    app.synth();
    const assetDirs = readdirSync(outdir).filter((name) => name.startsWith('asset.'));

    // scan, transfer, stripe-events, reconcile, payout events sweeper
    expect(assetDirs).toHaveLength(5);
    const previous = { ...process.env };
    Object.assign(process.env, {
      DATABASE_URL: 'postgres://payouts@127.0.0.1:1/payouts',
      STRIPE_SECRET_KEY: 'sk_test_bundle',
      PAYOUT_QUEUE_URL: 'http://127.0.0.1:1/000000000000/payouts',
    });
    try {
      for (const assetDir of assetDirs) {
        const source = join(outdir, assetDir);
        expect(readdirSync(source).sort()).toEqual(['index.js', 'index.js.map']);
        // Everything is inside the bundle but Node's built-ins and the runtime's AWS SDK.
        const code = readFileSync(join(source, 'index.js'), 'utf8');
        const required = [...code.matchAll(/require\("([^"]+)"\)/g)].map((match) => match[1] ?? '');
        const external = required.filter(
          (name) => !name.startsWith('node:') && !name.startsWith('@aws-sdk/') && !isBuiltin(name),
        );
        // pg-native is pg's optional binding, required only by the pg.native getter we never use.
        expect(external.filter((name) => name !== 'pg-native')).toEqual([]);
        // Lambda loads the asset with no package.json around it: CommonJS. The AWS SDK comes from
        // the runtime there, from this repo's node_modules here.
        const copy = join(outdir, `loaded-${assetDir}`);
        cpSync(source, copy, { recursive: true });
        writeFileSync(join(copy, 'package.json'), '{"type":"commonjs"}');
        const bundle = createRequire(join(copy, 'index.js'))('./index.js') as { handler?: unknown };
        expect(typeof bundle.handler).toBe('function');
      }
    } finally {
      process.env = previous;
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 120_000);
});
