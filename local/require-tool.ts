import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Fails with one clear line when a tool of this machine image is not on PATH, so that a test or
 * a rehearsal never passes by doing less than it says.
 */
export function requireTool(
  command: string,
  { why, installHint }: { why: string; installHint: string },
  path = process.env.PATH ?? '',
): void {
  const executable = (dir: string) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (!path.split(delimiter).some((dir) => dir !== '' && executable(dir))) {
    throw new Error(
      `${command} is not on PATH: ${why}. The project's machine image carries it (${installHint}).`,
    );
  }
}
