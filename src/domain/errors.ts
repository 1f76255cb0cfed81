/**
 * A rule of the product was broken by the caller's input. Carries a stable, Kinde-style code and the
 * HTTP status the management API answers with; the experience layer turns it into a friendly page.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Reads like a sentence: `assertThat(app.type !== 'm2m', 'INVALID_APPLICATION_TYPE', '…')`. */
export function assertThat(condition: unknown, code: string, message: string, status = 400): asserts condition {
  if (!condition) throw new DomainError(code, message, status);
}
