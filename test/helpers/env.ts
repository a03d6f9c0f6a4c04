import { vi } from 'vitest';

/** Sets each variable for the current test file; vi.unstubAllEnvs() undoes them. */
export function stubEnv(variables: Record<string, string>): void {
  for (const [name, value] of Object.entries(variables)) vi.stubEnv(name, value);
}
