import type { KoaContextWithOIDC } from 'oidc-provider';
import { MessagePage } from '../ui/pages/message.tsx';
import { renderPage } from '../ui/render.ts';

/** The engine's errors shown to people (bad redirect_uri, unknown client…): plain words and a way back. */
export async function renderProtocolError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }): Promise<void> {
  const client = ctx.oidc?.client;
  const back = (client?.['gatehouse_login_uri'] ?? client?.['gatehouse_homepage_uri']) as string | undefined;
  renderPage(
    ctx as never,
    MessagePage({
      title: 'We could not start sign-in',
      message: out.error_description ?? out.error,
      backUrl: back ?? null,
      backLabel: 'Return to the application',
    }),
  );
}
