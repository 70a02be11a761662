/** The shape every `consistency <command>` module exports as its default. */
export interface Command {
  /** One line for the top-level help. */
  summary: string;
  /** Runs the command; resolves to the process exit code. Throws UsageError for bad input (exit 2). */
  run(argv: string[]): Promise<number>;
}
