import { ErrorMessage, Layout } from './layout.tsx';

/**
 * The device flow's own pages (RFC 8628 §3.3, sections 027–028): the person types the code their
 * device shows, signs in with the usual pages, approves or denies, and is told they may go back.
 */

/**
 * The code field: not a one-time code from a message (`one-time-code` would offer the last SMS), but
 * letters read off another screen, so no autocomplete and capitals on mobile keyboards.
 */
export function EnterUserCodePage(props: { action: string; xsrf: string; value?: string; error?: string }) {
  return (
    <Layout title="Connect a device">
      <h1>Connect a device</h1>
      <p>Enter the code shown on your device.</p>
      <ErrorMessage message={props.error} />
      <form method="post" action={props.action}>
        <input type="hidden" name="xsrf" value={props.xsrf} />
        {/* Typing the code is the person's confirmation (RFC 8628 §3.3); the consent screen follows sign-in. */}
        <input type="hidden" name="confirm" value="yes" />
        <label for="user_code">Code</label>
        <input
          id="user_code"
          name="user_code"
          type="text"
          inputMode="text"
          autocomplete="off"
          autocapitalize="characters"
          spellcheck={false}
          maxLength={16}
          placeholder="XXXXXXXX"
          required
          autofocus
          value={props.value ?? ''}
          aria-describedby={props.error ? 'form-error' : undefined}
        />
        <button type="submit">Continue</button>
      </form>
    </Layout>
  );
}

export interface ConsentAudience {
  audience: string;
  name: string;
  scopes: string[];
}

const SCOPE_WORDS: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name and picture',
  email: 'See your email address',
  phone: 'See your phone number',
  offline: 'Stay signed in until you sign it out',
};

/** Step 9 of the sign-in (DESIGN.md §4): what the device will get, named plainly, and Allow / Deny. */
export function DeviceConsentPage(props: { action: string; csrf: string; appName: string; userCode: string; scopes: string[]; audiences: ConsentAudience[] }) {
  return (
    <Layout title={`Allow ${props.appName}?`}>
      <h1>Allow {props.appName}?</h1>
      <p>
        A device is asking to sign in as you. Only continue if it shows this code: <strong id="user-code">{props.userCode}</strong>
      </p>
      {props.scopes.length > 0 ? (
        <>
          <p>It will be able to:</p>
          <ul id="requested-scopes">
            {props.scopes.map((scope) => (
              <li data-scope={scope}>{SCOPE_WORDS[scope] ?? scope}</li>
            ))}
          </ul>
        </>
      ) : null}
      {props.audiences.map((api) => (
        <section class="audience" data-audience={api.audience}>
          <p>
            It will call <strong>{api.name}</strong> with {api.scopes.length > 0 ? 'the permissions your roles give you:' : 'no permissions of yours.'}
          </p>
          {api.scopes.length > 0 ? (
            <ul>
              {api.scopes.map((scope) => (
                <li data-scope={scope}>
                  <code>{scope}</code>
                </li>
              ))}
            </ul>
          ) : null}
        </section>
      ))}
      <form method="post" action={props.action}>
        <input type="hidden" name="csrf" value={props.csrf} />
        <button type="submit" name="decision" value="allow">
          Allow
        </button>
        <button type="submit" name="decision" value="deny" class="secondary">
          Deny
        </button>
      </form>
    </Layout>
  );
}

export function DeviceDonePage(props: { outcome: 'allowed' | 'denied'; appName?: string }) {
  const allowed = props.outcome === 'allowed';
  const title = allowed ? 'Your device is connected' : 'Access denied';
  const what = props.appName ?? 'The device';
  return (
    <Layout title={title}>
      <h1>{title}</h1>
      <p>{allowed ? `${what} is now signed in. You can close this page and go back to your device.` : `${what} was not allowed to sign in as you. You can close this page.`}</p>
    </Layout>
  );
}
