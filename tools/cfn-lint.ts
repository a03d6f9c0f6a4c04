import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requireTool } from '../local/require-tool.ts';

export interface CfnLintFinding {
  level: 'Error' | 'Warning' | 'Informational';
  rule: string;
  file: string;
  path: string;
  message: string;
}

interface CfnLintJson {
  Level: CfnLintFinding['level'];
  Rule: { Id: string };
  Filename: string;
  Location: { Path?: (string | number)[] };
  Message: string;
}

export function requireCfnLint(): void {
  requireTool('cfn-lint', {
    why: 'the deploy rehearsal lints every template it deploys',
    installHint: 'pip install cfn-lint',
  });
}

/** cfn-lint 1.x against CloudFormation's resource specification: every finding, of every level. */
export async function cfnLint(templates: string[]): Promise<CfnLintFinding[]> {
  requireCfnLint();
  // cfn-lint's exit code is a bit mask of the levels found, so a non-zero one is not a failure.
  const { stdout } = await promisify(execFile)('cfn-lint', ['--format', 'json', ...templates], {
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { stdout?: string; code?: unknown; stderr?: string }) => {
    if (typeof error.code === 'number' && error.stdout) return { stdout: error.stdout };
    throw new Error(`cfn-lint failed to run: ${error.stderr ?? String(error)}`);
  });
  return (JSON.parse(stdout) as CfnLintJson[]).map((finding) => ({
    level: finding.Level,
    rule: finding.Rule.Id,
    file: finding.Filename,
    path: (finding.Location.Path ?? []).join('/'),
    message: finding.Message,
  }));
}
