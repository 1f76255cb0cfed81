/**
 * A device, written from RFC 8628 alone (not from Gatehouse's code): it asks for a device code
 * (§3.1–3.2), then polls the token endpoint (§3.4) at the interval it was given, adding 5 seconds
 * on every `slow_down` (§3.5) and giving up after `expires_in`.
 */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval?: number;
  [extension: string]: unknown;
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
}

export type PollOutcome = { tokens: TokenResponse } | { error: string; error_description?: string };

export class DeviceClient {
  /** The interval the device currently honours, in seconds (§3.5: 5 when the server gives none). */
  interval = 5;
  /** Every error the token endpoint answered, in order. */
  readonly answers: string[] = [];

  constructor(
    private readonly issuer: string,
    private readonly clientId?: string,
  ) {}

  async authorize(params: Record<string, string | string[]> = {}): Promise<{ status: number; body: DeviceAuthorization & { error?: string } }> {
    const form = new URLSearchParams();
    if (this.clientId) form.append('client_id', this.clientId);
    for (const [name, value] of Object.entries(params)) for (const v of Array.isArray(value) ? value : [value]) form.append(name, v);
    const response = await fetch(`${this.issuer}/oauth2/device/auth`, { method: 'POST', body: form });
    const body = (await response.json()) as DeviceAuthorization & { error?: string };
    if (response.ok && typeof body.interval === 'number') this.interval = body.interval;
    return { status: response.status, body };
  }

  /** One access token request (§3.4). */
  async poll(deviceCode: string, clientId = this.clientId): Promise<{ status: number; outcome: PollOutcome }> {
    const response = await fetch(`${this.issuer}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: DEVICE_CODE_GRANT, device_code: deviceCode, ...(clientId ? { client_id: clientId } : {}) }),
    });
    const body = (await response.json()) as TokenResponse & { error?: string; error_description?: string };
    if (body.error) {
      this.answers.push(body.error);
      if (body.error === 'slow_down') this.interval += 5;
      return { status: response.status, outcome: { error: body.error, error_description: body.error_description } };
    }
    return { status: response.status, outcome: { tokens: body } };
  }

  /**
   * Polls until the person decides or the code expires. `wait(seconds)` is how the device waits
   * between polls (a real device sleeps; a test may move a clock instead).
   */
  async pollUntilDone(authorization: DeviceAuthorization, wait: (seconds: number) => Promise<void>): Promise<PollOutcome> {
    let waited = 0;
    for (;;) {
      const { outcome } = await this.poll(authorization.device_code);
      if ('tokens' in outcome) return outcome;
      if (outcome.error !== 'authorization_pending' && outcome.error !== 'slow_down') return outcome;
      if (waited + this.interval > authorization.expires_in) return { error: 'expired_token', error_description: 'the device gave up' };
      await wait(this.interval);
      waited += this.interval;
    }
  }
}
