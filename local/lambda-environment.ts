/**
 * Lambda gives each function an environment of its own; locally (`npm start`, the tests) several
 * handlers share one process and its `process.env`. Each handler reads its configuration as its call
 * starts, before its first await (its cold start builds its clients then, once): so its own
 * variables (its database role's DATABASE_URL) are put in place for that synchronous start of each
 * call and taken away again. test/integration/transfer-handler.test.ts checks who connects.
 */
export function withOwnEnvironment<A extends unknown[], R>(
  variables: Record<string, string>,
  handler: (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  return (...args) => {
    const outer = Object.fromEntries(
      Object.keys(variables).map((name) => [name, process.env[name]]),
    );
    Object.assign(process.env, variables);
    try {
      return handler(...args);
    } finally {
      for (const [name, value] of Object.entries(outer)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  };
}
