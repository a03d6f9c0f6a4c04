import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CDK = fileURLToPath(new URL('../node_modules/aws-cdk/bin/cdk', import.meta.url));

/**
 * Runs the project's own CDK CLI (node_modules/aws-cdk) in the repository, as `npx cdk` would.
 * Its output goes to `onOutput` line by line; a non-zero exit fails with the output's tail.
 */
export async function runCdk(
  args: string[],
  options: { env: Record<string, string>; onOutput?: (line: string) => void },
): Promise<void> {
  const child = spawn(process.execPath, [CDK, ...args, '--no-notices', '--ci'], {
    cwd: ROOT,
    env: {
      ...options.env,
      // Offline here: no notices, version check or telemetry requests to wait for.
      CDK_DISABLE_VERSION_CHECK: 'true',
      CDK_DISABLE_CLI_TELEMETRY: 'true',
      // Node 20 is this project's local runtime by decision (the CLI's own AWS SDK warns on it).
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      if (line.trim() === '') return;
      lines.push(line);
      options.onOutput?.(line);
    });
  }
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) {
    throw new Error(`cdk ${args[0]} exited with ${code}:\n${lines.slice(-40).join('\n')}`);
  }
}
