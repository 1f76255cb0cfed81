/**
 * Why a SAML sign-in was refused, by what the page and the audit event should say. Carries no
 * `cause` and never the response itself: it holds the person's attributes.
 */
export type SamlSignInFailure =
  /** No `InResponseTo`: an IdP-initiated (unsolicited) response, refused (DESIGN.md §5). */
  | 'unsolicited'
  /** `InResponseTo` names a request this flow did not start (another browser's, an old one). */
  | 'bad_in_response_to'
  /** No valid signature over the assertion used: unsigned, tampered, wrapped (XSW), an unknown key. */
  | 'invalid_signature'
  | 'wrong_issuer'
  | 'wrong_audience'
  /** `Destination` or the bearer confirmation's `Recipient` is not this server's ACS URL. */
  | 'wrong_recipient'
  /** Outside `NotBefore`/`NotOnOrAfter` (with 2 minutes of skew), or without an expiry. */
  | 'expired'
  /** This assertion id was accepted before. */
  | 'replayed'
  /** The IdP answered with an error status (the person is not assigned to the app, cancelled…). */
  | 'idp_error'
  /** Not a SAML response at all. */
  | 'malformed'
  /** The connection cannot work: no metadata, metadata unreadable, no sign-in URL. */
  | 'misconfigured';

export class SamlSignInError extends Error {
  override name = 'SamlSignInError';
  constructor(
    readonly kind: SamlSignInFailure,
    message: string,
  ) {
    super(message);
  }
}
