import { describe, expect, it } from 'vitest';
import { oncePerColdStart } from '../../shared/cold-start.ts';

describe('oncePerColdStart', () => {
  it('builds once and hands every invocation the same dependencies', async () => {
    let builds = 0;
    const deps = oncePerColdStart(async () => ({ build: ++builds }));

    const [first, second] = await Promise.all([deps(), deps()]);

    expect(first).toBe(second);
    expect(builds).toBe(1);
  });

  it('builds again on the next invocation after a failed build', async () => {
    let builds = 0;
    const deps = oncePerColdStart(async () => {
      builds += 1;
      if (builds === 1) throw new Error('secret not readable yet');
      return { build: builds };
    });

    await expect(deps()).rejects.toThrow('secret not readable yet');
    expect(await deps()).toEqual({ build: 2 });
  });
});
