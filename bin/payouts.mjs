#!/usr/bin/env node
// `npx payouts …`: the same CLI as `npm run payouts -- …`, loaded through tsx.
import { tsImport } from 'tsx/esm/api';

const cli = await tsImport('../tools/payouts-cli.ts', import.meta.url);
process.exit(await cli.runFromProcess());
