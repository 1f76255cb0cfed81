import type { LogoMark } from '../logos.ts';
import { ErrorMessage, Layout } from './layout.tsx';

export interface SocialButtonView {
  connectionId: string;
  /** The provider's name, as it brands itself: "Google", "X". */
  providerName: string;
  /** The provider's mark (ui/logos.ts); without one, the initial. */
  logo?: LogoMark | undefined;
}

const SOCIAL_STYLE = `
.social button{display:flex;align-items:center;justify-content:center;gap:.6rem;margin-top:.6rem;color:#1d1f23;background:#fff;border:1px solid #c4c8cf}
.social .mark{display:inline-grid;place-items:center;width:1.5rem;height:1.5rem;border-radius:50%;background:#1d1f23;color:#fff;font-size:.85rem;font-weight:700}
.social svg.mark{border-radius:0;background:none;width:1.25rem;height:1.25rem}
.divider{text-align:center;margin:1.25rem 0 0;color:#4a4f57;font-size:.9rem}
`;

/**
 * One button per social connection, in one form: each posts its connection id (with the CSRF token)
 * to begin the round trip. The accessible name is the words, "Continue with Google"; the mark is
 * decoration (`aria-hidden`).
 */
export function SocialButtons(props: { action: string; csrf: string; buttons: readonly SocialButtonView[]; afterForm: boolean }) {
  if (props.buttons.length === 0) return null;
  return (
    <>
      <style dangerouslySetInnerHTML={{ __html: SOCIAL_STYLE }} />
      {props.afterForm ? <p class="divider">or</p> : null}
      <form method="post" action={props.action} class="social">
        <input type="hidden" name="csrf" value={props.csrf} />
        {props.buttons.map((button) => (
          <button type="submit" name="connection_id" value={button.connectionId}>
            {button.logo ? (
              <svg class="mark" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
                {button.logo.paths.map((path) => (
                  <path d={path.d} fill={path.fill} />
                ))}
              </svg>
            ) : (
              <span class="mark" aria-hidden="true">
                {button.providerName.slice(0, 1)}
              </span>
            )}
            Continue with {button.providerName}
          </button>
        ))}
      </form>
    </>
  );
}

/** Step 6 (DESIGN.md §4): the provider gave no email (X); asked once, then proven by a code. */
export function SocialEmailPage(props: { action: string; csrf: string; appName: string; providerName: string; email?: string; error?: string }) {
  return (
    <Layout title={`Your email · ${props.appName}`}>
      <h1>What is your email?</h1>
      <p>{props.providerName} did not tell us your email. We send a code to confirm it; you will not be asked again.</p>
      <ErrorMessage message={props.error} />
      <form method="post" action={props.action}>
        <input type="hidden" name="csrf" value={props.csrf} />
        <label for="email">Email</label>
        <input id="email" name="email" type="email" autocomplete="email" required autofocus value={props.email ?? ''} aria-describedby={props.error ? 'form-error' : undefined} />
        <button type="submit">Continue</button>
      </form>
    </Layout>
  );
}
