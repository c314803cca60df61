/**
 * Bad input, a missing permission or a conflict: something the user can fix. The CLI prints the
 * message (and the hint) on one line without a stack trace and exits 1. Anything else is a bug.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "UserError";
  }
}
