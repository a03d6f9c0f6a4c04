/** The commands of one document: from `npx payouts` to the end of the code span or line. */
export function documentedCommands(text: string): string[] {
  return (
    text
      .split('\n')
      .flatMap((line) => [...line.matchAll(/npx payouts(?: [^`#\n]*)?/g)].map((m) => m[0].trim()))
      // The CLI's name alone, or a placeholder for any command, is no command to check.
      .filter((command) => /^npx payouts [^…]/.test(command) && !/<command>/.test(command))
  );
}
