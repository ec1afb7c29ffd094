/**
 * A mistake the user can fix (bad option, missing file, rule violated).
 * The CLI prints its message as one line, `pmemvm: <message>`, and exits 1
 * without a stack trace. Anything else that escapes is a bug in pmemvm.
 */
export class UserError extends Error {
  override name = 'UserError';
}
