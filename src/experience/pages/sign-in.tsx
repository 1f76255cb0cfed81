import { ErrorMessage, Layout } from './layout.tsx';

interface FormPage {
  action: string;
  csrf: string;
  appName: string;
  error?: string;
  notice?: string;
  restartUrl?: string;
}

function Form(props: { action: string; csrf: string; children: preact.ComponentChildren }) {
  return (
    <form method="post" action={props.action} novalidate={false}>
      <input type="hidden" name="csrf" value={props.csrf} />
      {props.children}
    </form>
  );
}

function Notice(props: { message: string | undefined }) {
  return props.message ? <p class="notice" role="status">{props.message}</p> : null;
}

export function IdentifyPage(props: FormPage & { email?: string; registerUrl?: string }) {
  return (
    <Layout title={`Sign in to ${props.appName}`}>
      <h1>Sign in</h1>
      <p>Continue to {props.appName}</p>
      <ErrorMessage message={props.error} />
      <Form action={props.action} csrf={props.csrf}>
        <label for="email">Email</label>
        <input id="email" name="email" type="email" autocomplete="email" required autofocus value={props.email ?? ''} aria-describedby={props.error ? 'form-error' : undefined} />
        <button type="submit">Continue</button>
      </Form>
      {props.registerUrl ? (
        <p class="aside">
          No account? <a href={props.registerUrl}>Create one</a>
        </p>
      ) : null}
    </Layout>
  );
}

export function RegisterPage(props: FormPage & { email?: string; askForNames: boolean; askForPassword: boolean; firstName?: string; lastName?: string; signInUrl: string }) {
  return (
    <Layout title={`Create your ${props.appName} account`}>
      <h1>Create your account</h1>
      <p>for {props.appName}</p>
      <ErrorMessage message={props.error} />
      <Form action={props.action} csrf={props.csrf}>
        {props.askForNames ? (
          <div class="row">
            <div>
              <label for="given_name">First name</label>
              <input id="given_name" name="given_name" type="text" autocomplete="given-name" required value={props.firstName ?? ''} />
            </div>
            <div>
              <label for="family_name">Last name</label>
              <input id="family_name" name="family_name" type="text" autocomplete="family-name" required value={props.lastName ?? ''} />
            </div>
          </div>
        ) : null}
        <label for="email">Email</label>
        <input id="email" name="email" type="email" autocomplete="email" required value={props.email ?? ''} />
        {props.askForPassword ? (
          <>
            <label for="password">Password</label>
            <input id="password" name="password" type="password" autocomplete="new-password" required minLength={8} aria-describedby="password-rule" />
            <p id="password-rule">At least 8 characters. A long passphrase is best.</p>
          </>
        ) : null}
        <button type="submit">Continue</button>
      </Form>
      <p class="aside">
        Already have an account? <a href={props.signInUrl}>Sign in</a>
      </p>
    </Layout>
  );
}

export function PasswordPage(props: FormPage & { email: string }) {
  return (
    <Layout title={`Sign in to ${props.appName}`}>
      <h1>Enter your password</h1>
      <p>{props.email}</p>
      <ErrorMessage message={props.error} />
      <Form action={props.action} csrf={props.csrf}>
        <input type="email" name="username" autocomplete="username" value={props.email} hidden readOnly />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required autofocus />
        <button type="submit">Sign in</button>
      </Form>
      <p class="aside">
        <a href={props.restartUrl}>Use a different email</a>
      </p>
    </Layout>
  );
}

export function CodePage(props: FormPage & { email: string }) {
  return (
    <Layout title="Check your email">
      <h1>Check your email</h1>
      <p>We sent a 6-digit code to {props.email}. It expires in 2 hours.</p>
      <Notice message={props.notice} />
      <ErrorMessage message={props.error} />
      <Form action={props.action} csrf={props.csrf}>
        <label for="code">Code</label>
        <input id="code" name="code" type="text" inputMode="numeric" pattern="[0-9]{6}" maxLength={6} autocomplete="one-time-code" required autofocus />
        <button type="submit">Continue</button>
      </Form>
      <p class="aside">
        <a href={props.restartUrl}>Use a different email</a>
      </p>
    </Layout>
  );
}
