import { strategyNamed } from '../../domain/strategies.ts';
import { type Interaction, interactionUrl } from '../flow/interaction.ts';
import { SocialEmailPage } from '../../ui/pages/social.tsx';
import { LOGOS } from '../../ui/logos.ts';
import type { SocialEmailState } from '../flow/state.ts';

/** The provider's own name on its button ("Continue with Google"), from the strategy registry. */
const providerName = (strategy: string, fallback: string) => strategyNamed(strategy)?.displayName ?? fallback;

/** The identify page's social buttons, one per connection the application (or organization) offers. */
export function socialButtonsOf(interaction: Interaction) {
  if (interaction.socialConnections.length === 0) return undefined;
  return {
    action: interactionUrl(interaction.uid, 'social'),
    buttons: interaction.socialConnections.map((connection) => ({ connectionId: connection.id, providerName: providerName(connection.strategy, connection.displayName), logo: LOGOS[connection.strategy] })),
  };
}

/** The identify page's "Continue with <connection>" buttons for enterprise connections that show one (rules.ts `showsSsoButton`). */
export function enterpriseButtonsOf(interaction: Interaction) {
  const shown = interaction.enterpriseConnections.filter((connection) => connection.button);
  if (shown.length === 0) return undefined;
  return { action: interactionUrl(interaction.uid, 'enterprise'), buttons: shown.map((connection) => ({ connectionId: connection.id, providerName: connection.displayName })) };
}

export function socialEmailPage(interaction: Interaction, common: { csrf: string; appName: string; error?: string | undefined }, state: SocialEmailState) {
  const connection = interaction.socialConnections.find((candidate) => candidate.id === state.profile.connectionId);
  return SocialEmailPage({
    ...common,
    action: interactionUrl(interaction.uid, 'social/email'),
    providerName: connection ? providerName(connection.strategy, connection.displayName) : 'Your provider',
    email: state.profile.email,
  });
}
