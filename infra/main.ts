import { buildApp } from './app.ts';

// The entry point cdk.json names; tests build the app through buildApp() instead.
try {
  buildApp().app.synth();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
