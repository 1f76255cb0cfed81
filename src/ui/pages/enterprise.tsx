import { Layout } from './layout.tsx';

/**
 * SAML's HTTP-POST binding (SAML bindings §3.5): the AuthnRequest travels in a form the browser posts
 * to the IdP. Our pages run no script (the CSP allows none), so the person presses "Continue"; the
 * form works the same with or without JavaScript.
 */
export function SamlPostPage(props: { url: string; fields: Record<string, string>; providerName: string; appName: string }) {
  return (
    <Layout title={`Continue to ${props.providerName} · ${props.appName}`}>
      <h1>Continue to {props.providerName}</h1>
      <p>Your organization signs you in to {props.appName} with {props.providerName}.</p>
      <form method="post" action={props.url}>
        {Object.entries(props.fields).map(([name, value]) => (
          <input type="hidden" name={name} value={value} />
        ))}
        <button type="submit" autofocus>
          Continue
        </button>
      </form>
    </Layout>
  );
}
