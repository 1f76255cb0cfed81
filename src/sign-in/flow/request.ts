import { z } from 'zod';

/**
 * Kinde's authorization parameters as the sign-in pages use them (contract doc, "Authorization
 * request"), read once from what the engine kept of the request. The engine has already refused what
 * is malformed at the protocol level; here a value of the wrong shape reads as absent, since a person
 * cannot do anything about it on a sign-in page.
 */
const optionalText = (max: number) => z.string().trim().min(1).max(max).optional().catch(undefined);

const signInRequestSchema = z.object({
  org_code: optionalText(64),
  org_name: z.string().trim().max(255).optional().catch(undefined),
  is_create_org: z.enum(['true', 'false']).optional().catch(undefined),
  connection_id: optionalText(64),
  login_hint: optionalText(512),
  lang: z
    .string()
    .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/)
    .optional()
    .catch(undefined),
  start_page: z.enum(['registration', 'login']).optional().catch(undefined),
});

export interface SignInRequest {
  /** `org_code`: sign in to (or join) this organization (section 042). */
  organizationCode: string | undefined;
  /** `is_create_org=true`: create an organization named `org_name` at sign-up (section 045). */
  createOrganizationNamed: string | undefined;
  /** `connection_id`: go straight to this connection (custom sign-in screens, section 020). */
  connectionId: string | undefined;
  loginHint: string | undefined;
  /** `lang`: a BCP 47 tag for the pages. */
  language: string | undefined;
  /** `prompt=create` or `start_page=registration`: open on the registration page. */
  registering: boolean;
}

export function parseSignInRequest(params: Record<string, unknown>): SignInRequest {
  const parsed = signInRequestSchema.parse(params);
  return {
    organizationCode: parsed.org_code,
    createOrganizationNamed: parsed.is_create_org === 'true' ? (parsed.org_name ?? '') : undefined,
    connectionId: parsed.connection_id,
    loginHint: parsed.login_hint,
    language: parsed.lang,
    registering: parsed.start_page === 'registration',
  };
}
