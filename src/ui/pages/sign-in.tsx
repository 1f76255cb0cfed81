import type { ComponentChildren } from 'preact';
import { ErrorMessage, Layout } from './layout.tsx';
import { type SocialButtonView, SocialButtons } from './social.tsx';

interface FormPage {
  action: string;
  csrf: string;
  appName: string;
  error?: string;
  notice?: string;
}

function Form(props: { action: string; csrf: string; children: ComponentChildren }) {
  return (
    <form method="post" action={props.action}>
      <input type="hidden" name="csrf" value={props.csrf} />
      {props.children}
    </form>
  );
}

function Notice(props: { message: string | undefined }) {
  return props.message ? (
    <p class="notice" role="status">
      {props.message}
    </p>
  ) : null;
}

function Aside(props: { children: ComponentChildren }) {
  return <p class="aside">{props.children}</p>;
}

/** An action that sends something (a code, an email) is a POST with its CSRF token, shown as a link. */
function ActionLink(props: { action: string; csrf: string; children: ComponentChildren }) {
  return (
    <form method="post" action={props.action} class="inline">
      <input type="hidden" name="csrf" value={props.csrf} />
      <button type="submit" class="link">
        {props.children}
      </button>
    </form>
  );
}

/** The kinds of identity a person types (the domain's IdentityType; ui is a leaf and imports nothing of the app's). */
type IdentityType = 'email' | 'phone' | 'username';

const LABELS: Record<IdentityType, string> = { email: 'Email', phone: 'Mobile number', username: 'Username' };

/** The one identifier field, labelled and typed for what the application accepts. */
export function identifierField(types: readonly IdentityType[]): { label: string; type: 'email' | 'tel' | 'text'; autocomplete: string; inputMode?: string } {
  const words = types.map((t, i) => (i === 0 ? LABELS[t] : LABELS[t].toLowerCase()));
  const label = words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}` : (words[0] ?? '');
  if (types.length === 1 && types[0] === 'email') return { label, type: 'email', autocomplete: 'email' };
  if (types.length === 1 && types[0] === 'phone') return { label, type: 'tel', autocomplete: 'tel', inputMode: 'tel' };
  // Password managers file every sign-in identifier under "username".
  return { label, type: 'text', autocomplete: 'username' };
}

export function IdentifyPage(
  props: FormPage & { registering: boolean; types: IdentityType[]; value?: string; switchUrl?: string; showSwitch: boolean; social?: { action: string; buttons: SocialButtonView[] } | undefined; enterprise?: { action: string; buttons: SocialButtonView[] } | undefined },
) {
  const field = identifierField(props.types);
  const title = props.registering ? 'Create your account' : 'Sign in';
  return (
    <Layout title={`${title} · ${props.appName}`}>
      <h1>{title}</h1>
      <p>{props.registering ? `for ${props.appName}` : `Continue to ${props.appName}`}</p>
      <Notice message={props.notice} />
      <ErrorMessage message={props.error} />
      {props.types.length > 0 ? (
        <Form action={props.action} csrf={props.csrf}>
          <label for="identifier">{field.label}</label>
          <input
            id="identifier"
            name="identifier"
            type={field.type as 'text'}
            inputMode={field.inputMode as never}
            autocomplete={field.autocomplete}
            required
            autofocus
            value={props.value ?? ''}
            aria-describedby={props.error ? 'form-error' : undefined}
          />
          <button type="submit">Continue</button>
        </Form>
      ) : null}
      {props.social ? <SocialButtons action={props.social.action} csrf={props.csrf} buttons={props.social.buttons} afterForm={props.types.length > 0} /> : null}
      {props.enterprise ? <SocialButtons action={props.enterprise.action} csrf={props.csrf} buttons={props.enterprise.buttons} afterForm={props.types.length > 0 && !props.social} /> : null}
      {props.showSwitch && props.switchUrl ? (
        <Aside>
          {props.registering ? 'Already have an account? ' : 'No account? '}
          <a href={props.switchUrl}>{props.registering ? 'Sign in' : 'Create one'}</a>
        </Aside>
      ) : null}
    </Layout>
  );
}

/** First and last name, side by side, as a sign-up or an access request asks for them. */
function NameFields(props: { firstName?: string | undefined; lastName?: string | undefined }) {
  return (
    <div class="row">
      <div>
        <label for="given_name">First name</label>
        <input id="given_name" name="given_name" type="text" autocomplete="given-name" required maxLength={100} value={props.firstName ?? ''} />
      </div>
      <div>
        <label for="family_name">Last name</label>
        <input id="family_name" name="family_name" type="text" autocomplete="family-name" required maxLength={100} value={props.lastName ?? ''} />
      </div>
    </div>
  );
}

export interface RegisterFields {
  identifierType: IdentityType;
  identifier: string;
  askForNames: boolean;
  askForEmail: boolean;
  askForPassword: boolean;
  askMarketingConsent: boolean;
  firstName?: string;
  lastName?: string;
  email?: string;
}

export function RegisterPage(props: FormPage & RegisterFields & { changeUrl: string; signInUrl?: string }) {
  const field = identifierField([props.identifierType]);
  return (
    <Layout title={`Create your account · ${props.appName}`}>
      <h1>Create your account</h1>
      <p>for {props.appName}</p>
      <ErrorMessage message={props.error} />
      <Form action={props.action} csrf={props.csrf}>
        <label for="identifier">{field.label}</label>
        <input id="identifier" name="identifier" type={field.type as 'text'} autocomplete={field.autocomplete} value={props.identifier} readOnly />
        {props.askForNames ? <NameFields firstName={props.firstName} lastName={props.lastName} /> : null}
        {props.askForEmail ? (
          <>
            <label for="email">Email</label>
            <input id="email" name="email" type="email" autocomplete="email" required value={props.email ?? ''} aria-describedby="email-use" />
            <p id="email-use">We send a code to confirm it, and use it if you forget your password.</p>
          </>
        ) : null}
        {props.askForPassword ? (
          <>
            <label for="password">Password</label>
            <input id="password" name="password" type="password" autocomplete="new-password" required minLength={8} aria-describedby="password-rule" />
            <p id="password-rule">At least 8 characters. A long phrase that is unique to you is best.</p>
          </>
        ) : null}
        {props.askMarketingConsent ? (
          <p>
            <label>
              <input type="checkbox" name="accepts_marketing" value="yes" /> Send me news and offers from {props.appName}
            </label>
          </p>
        ) : null}
        <button type="submit">Continue</button>
      </Form>
      <Aside>
        <a href={props.changeUrl}>Use a different {LABELS[props.identifierType].toLowerCase()}</a>
      </Aside>
      {props.signInUrl ? (
        <Aside>
          Already have an account? <a href={props.signInUrl}>Sign in</a>
        </Aside>
      ) : null}
    </Layout>
  );
}

export function PasswordPage(props: FormPage & { identifier: string; identifierType: IdentityType; forgotUrl: string; changeUrl: string }) {
  return (
    <Layout title={`Sign in · ${props.appName}`}>
      <h1>Enter your password</h1>
      <p>{props.identifier}</p>
      <Notice message={props.notice} />
      <ErrorMessage message={props.error} />
      <Form action={props.action} csrf={props.csrf}>
        <input type="text" name="username" autocomplete="username" value={props.identifier} hidden readOnly />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required autofocus />
        <button type="submit">Sign in</button>
      </Form>
      <Aside>
        <ActionLink action={props.forgotUrl} csrf={props.csrf}>
          Forgot your password?
        </ActionLink>
      </Aside>
      <Aside>
        <a href={props.changeUrl}>Use a different {LABELS[props.identifierType].toLowerCase()}</a>
      </Aside>
    </Layout>
  );
}

export function CodePage(props: FormPage & { channel: 'email' | 'sms'; destination: string; resendUrl: string; changeUrl: string }) {
  const title = props.channel === 'sms' ? 'Check your phone' : 'Check your email';
  return (
    <Layout title={title}>
      <h1>{title}</h1>
      <p>
        We sent a 6-digit code to {props.destination}. It expires in 2 hours.
      </p>
      <Notice message={props.notice} />
      <ErrorMessage message={props.error} />
      <Form action={props.action} csrf={props.csrf}>
        <label for="code">Code</label>
        <input id="code" name="code" type="text" inputMode="numeric" pattern="[0-9]{6}" maxLength={6} autocomplete="one-time-code" required autofocus />
        <button type="submit">Continue</button>
      </Form>
      <Aside>
        Didn't get it?{' '}
        <ActionLink action={props.resendUrl} csrf={props.csrf}>
          Send a new code
        </ActionLink>
      </Aside>
      <Aside>
        <a href={props.changeUrl}>Start again</a>
      </Aside>
    </Layout>
  );
}

export function NewPasswordPage(props: FormPage & { identifier: string; reason: 'temporary' | 'reset' }) {
  return (
    <Layout title="Choose a new password">
      <h1>Choose a new password</h1>
      <p>{props.reason === 'temporary' ? 'The password you used was temporary. Choose your own to continue.' : `For ${props.identifier}.`}</p>
      <ErrorMessage message={props.error} />
      <Form action={props.action} csrf={props.csrf}>
        <input type="text" name="username" autocomplete="username" value={props.identifier} hidden readOnly />
        <label for="password">New password</label>
        <input id="password" name="password" type="password" autocomplete="new-password" required minLength={8} autofocus aria-describedby="password-rule" />
        <p id="password-rule">At least 8 characters. A long phrase that is unique to you is best.</p>
        <button type="submit">Save and continue</button>
      </Form>
    </Layout>
  );
}

/**
 * Sign-up is closed to this person; instead of a dead end they may ask for access. A stranger gives
 * an email (a code proves it next) and names; someone already signed in only confirms.
 */
export function RequestAccessPage(
  props: FormPage & {
    known: boolean;
    organizationName?: string | undefined;
    email?: string | undefined;
    /** The email is proven (a trusted provider's): shown, not asked for. */
    emailProven?: boolean | undefined;
    firstName?: string | undefined;
    lastName?: string | undefined;
    backUrl: string | null;
    backLabel: string;
  },
) {
  const title = props.known ? "We can't find your account" : 'Ask your administrator for access';
  const where = props.organizationName ?? props.appName;
  return (
    <Layout title={title}>
      <h1>{title}</h1>
      <p>
        {props.known
          ? `You are not a member of ${where}. You can ask its administrator to let you in.`
          : `We could not find an account for you, and new accounts for ${where} are approved by an administrator. You can ask them for one.`}
      </p>
      <ErrorMessage message={props.error} />
      <Form action={props.action} csrf={props.csrf}>
        {props.known ? (
          props.email ? (
            <p>The request will be sent as {props.email}.</p>
          ) : null
        ) : (
          <>
            {props.emailProven && props.email ? (
              <p>The request will be sent as {props.email}.</p>
            ) : (
              <>
                <label for="email">Email</label>
                <input id="email" name="email" type="email" autocomplete="email" required value={props.email ?? ''} aria-describedby="email-use" />
                <p id="email-use">We send a code to confirm it is yours.</p>
              </>
            )}
            <NameFields firstName={props.firstName} lastName={props.lastName} />
          </>
        )}
        <button type="submit">Request access</button>
      </Form>
      {props.backUrl ? (
        <Aside>
          <a href={props.backUrl}>{props.backLabel}</a>
        </Aside>
      ) : null}
    </Layout>
  );
}
