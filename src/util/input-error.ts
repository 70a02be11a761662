/**
 * The base of every error a user can fix (a bad file, value or flag): the CLI prints its message
 * as one line and exits with code 2 (src/cli/main.ts). Without imports, so that the browser entry
 * can use it too.
 */
export class InputError extends Error {
  override name = 'InputError';
  readonly exitCode = 2;
}
