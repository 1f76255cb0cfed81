import { ErrorMessage, Layout } from './layout.tsx';

/** The second factors a page can name (the domain's FactorType; ui is a leaf and imports nothing of the app's). */
type FactorType = 'totp' | 'email' | 'sms';

const FACTOR_NAMES: Record<FactorType, string> = { totp: 'Authenticator app', email: 'Email code', sms: 'Text message code' };

interface MfaPage {
  action: string;
  csrf: string;
  error?: string;
  notice?: string;
}

function Hidden(props: { csrf: string }) {
  return <input type="hidden" name="csrf" value={props.csrf} />;
}

/** Section 053: choose a second factor to set up; skippable when MFA is optional. */
export function MfaChoosePage(props: MfaPage & { factors: FactorType[]; skippable: boolean }) {
  return (
    <Layout title="Set up two-step verification">
      <h1>Set up two-step verification</h1>
      <p>{props.skippable ? 'Add a second step to keep your account safe.' : 'This account needs a second step to sign in. Choose one.'}</p>
      <ErrorMessage message={props.error} />
      <form method="post" action={props.action}>
        <Hidden csrf={props.csrf} />
        {props.factors.map((factor) => (
          <button type="submit" name="factor" value={factor}>
            {FACTOR_NAMES[factor]}
          </button>
        ))}
        {props.skippable ? (
          <button type="submit" name="factor" value="skip" class="link">
            Skip for now
          </button>
        ) : null}
      </form>
    </Layout>
  );
}

/** Authenticator-app enrolment: the QR code and the secret for typing in, then a first code. */
export function TotpEnrolPage(props: MfaPage & { qrCodeDataUrl: string; secret: string }) {
  return (
    <Layout title="Set up your authenticator app">
      <h1>Set up your authenticator app</h1>
      <p>Scan this code with your authenticator app, or type the key below into it.</p>
      <img src={props.qrCodeDataUrl} alt="QR code to add this account to an authenticator app" width={200} height={200} />
      <p>
        Key: <code id="totp-secret">{props.secret}</code>
      </p>
      <ErrorMessage message={props.error} />
      <form method="post" action={props.action}>
        <Hidden csrf={props.csrf} />
        <label for="code">Code from the app</label>
        <input id="code" name="code" type="text" inputMode="numeric" pattern="[0-9]{6}" maxLength={6} autocomplete="one-time-code" required autofocus />
        <button type="submit">Verify</button>
      </form>
    </Layout>
  );
}

/** The second step at sign-in: a code from the chosen factor, or a recovery code. */
export function MfaChallengePage(
  props: MfaPage & { factor: FactorType | 'recovery'; destination?: string | null; others: Array<{ value: string; label: string }>; switchAction: string },
) {
  const recovery = props.factor === 'recovery';
  const lead = recovery
    ? 'Enter one of the recovery codes you saved. Each works once.'
    : props.factor === 'totp'
      ? 'Enter the 6-digit code from your authenticator app.'
      : `We sent a 6-digit code to ${props.destination ?? 'you'}.`;
  return (
    <Layout title="Two-step verification">
      <h1>Two-step verification</h1>
      <p>{lead}</p>
      {props.notice ? (
        <p class="notice" role="status">
          {props.notice}
        </p>
      ) : null}
      <ErrorMessage message={props.error} />
      <form method="post" action={props.action}>
        <Hidden csrf={props.csrf} />
        <label for="code">{recovery ? 'Recovery code' : 'Code'}</label>
        {recovery ? (
          <input id="code" name="code" type="text" autocomplete="off" autocapitalize="characters" required autofocus />
        ) : (
          <input id="code" name="code" type="text" inputMode="numeric" pattern="[0-9]{6}" maxLength={6} autocomplete="one-time-code" required autofocus />
        )}
        <button type="submit">Verify</button>
      </form>
      {props.others.length > 0 ? (
        <form method="post" action={props.switchAction} class="aside">
          <Hidden csrf={props.csrf} />
          {props.others.map((other) => (
            <button type="submit" name="use" value={other.value} class="link">
              {other.label}
            </button>
          ))}
        </form>
      ) : null}
    </Layout>
  );
}

/** Recovery codes, shown once: after the first factor is proven (with a way on), or after regenerating. */
export function RecoveryCodesPage(props: Omit<MfaPage, 'action'> & { codes: string[]; action?: string }) {
  return (
    <Layout title="Save your recovery codes">
      <h1>Save your recovery codes</h1>
      <p>If you lose your second step, each of these codes lets you sign in once. Keep them somewhere safe: we will not show them again.</p>
      <ul id="recovery-codes">
        {props.codes.map((code) => (
          <li>
            <code>{code}</code>
          </li>
        ))}
      </ul>
      {props.action ? (
        <form method="post" action={props.action}>
          <Hidden csrf={props.csrf} />
          <button type="submit">I have saved them</button>
        </form>
      ) : null}
    </Layout>
  );
}
