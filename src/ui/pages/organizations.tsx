import { Layout } from './layout.tsx';

/** Section 045/049: a person in several organizations picks the one to sign in to. */
export function OrganizationSwitcherPage(props: { action: string; csrf: string; appName: string; organizations: Array<{ code: string; name: string }> }) {
  return (
    <Layout title={`Choose an organization · ${props.appName}`}>
      <h1>Choose an organization</h1>
      <p>You belong to more than one. Which one are you signing in to?</p>
      <form method="post" action={props.action}>
        <input type="hidden" name="csrf" value={props.csrf} />
        {props.organizations.map((org) => (
          <button type="submit" name="org_code" value={org.code}>
            {org.name}
          </button>
        ))}
      </form>
    </Layout>
  );
}
