/**
 * Builds a Lambda's dependencies once per cold start, on the first invocation rather than at
 * import; a build that failed (a bad variable, a secret not readable yet) is tried again next time.
 */
export function oncePerColdStart<T>(build: () => Promise<T>): () => Promise<T> {
  let built: Promise<T> | undefined;
  return () => {
    built ??= build().catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    return built;
  };
}
