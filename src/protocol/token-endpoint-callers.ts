import { type Application, clientSecretMatches, findApplication, isPublicClient } from '../domain/applications.ts';
import type { Db } from '../store/db.ts';

/**
 * The application calling introspection or revocation about one of Gatehouse's JWT access tokens,
 * which the engine cannot look up itself (it does not store them). A Basic credential has already
 * been moved into the body (kinde-requests.ts). A confidential application must prove its secret
 * (RFC 7009 §2.1, RFC 7662 §2.1); a public one is named by `client_id` alone, where `allowPublic`.
 */
export async function callingApplication(db: Db, body: Record<string, unknown>, options: { allowPublic: boolean }): Promise<Application | undefined> {
  const app = typeof body.client_id === 'string' ? await findApplication(db, body.client_id) : undefined;
  if (!app) return undefined;
  if (isPublicClient(app.type)) return options.allowPublic && body.client_secret === undefined ? app : undefined;
  return clientSecretMatches(app.clientSecretHash, body.client_secret) ? app : undefined;
}

export const looksLikeJwt = (token: unknown): token is string => typeof token === 'string' && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);
