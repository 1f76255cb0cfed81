import { createHash, randomBytes } from 'node:crypto';
import { FormDriver } from './form-driver.ts';
import { codeIn, type TestSmtp } from './smtp.ts';

/** An authorization request with a fresh PKCE (S256) verifier, as a public client sends it. */
export function pkceAuthorizationRequest(params: Record<string, string>): { query: URLSearchParams; verifier: string } {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { query: new URLSearchParams({ response_type: 'code', code_challenge: challenge, code_challenge_method: 'S256', ...params }), verifier };
}

/**
 * Signs `email` in (or up) with an emailed code on the hosted pages, without a browser; returns the
 * authorization code the application receives and the PKCE verifier that redeems it.
 */
export async function codeForEmailSignIn(
  origin: string,
  smtp: TestSmtp,
  email: string,
  params: { client_id: string; redirect_uri: string; scope: string },
): Promise<{ code: string; verifier: string }> {
  const { query, verifier } = pkceAuthorizationRequest({ state: 'code-grant', ...params });
  const driver = new FormDriver(origin);
  await driver.go(`/oauth2/auth?${query}`);
  const mail = smtp.nextMessageTo(email);
  await driver.submit({ identifier: email });
  const callback = await driver.submit({ code: codeIn(await mail) });
  if (!callback?.searchParams.get('code')) throw new Error(`sign-in did not reach the callback: ${driver.lastUrl}`);
  return { code: callback.searchParams.get('code')!, verifier };
}
