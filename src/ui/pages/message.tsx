import { Layout } from './layout.tsx';

/** A page for people: what happened, in plain words, and a way back. */
export function MessagePage(props: { title: string; message: string; backUrl?: string | null; backLabel?: string }) {
  return (
    <Layout title={props.title}>
      <h1>{props.title}</h1>
      <p>{props.message}</p>
      {props.backUrl ? (
        <p class="aside">
          <a href={props.backUrl}>{props.backLabel ?? 'Go back'}</a>
        </p>
      ) : null}
    </Layout>
  );
}
