import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSignInRequest } from '../src/sign-in/flow/request.ts';

describe("Kinde's authorization parameters, read once for the sign-in pages", () => {
  it('reads every parameter the pages use', () => {
    assert.deepEqual(
      parseSignInRequest({ org_code: 'org_123', is_create_org: 'true', org_name: 'Acme', connection_id: 'conn_1', login_hint: 'joe@blogs.com', lang: 'en-AU', start_page: 'registration', scope: 'openid' }),
      { organizationCode: 'org_123', createOrganizationNamed: 'Acme', connectionId: 'conn_1', loginHint: 'joe@blogs.com', language: 'en-AU', registering: true },
    );
  });

  const rows: Array<[string, Record<string, unknown>, Partial<ReturnType<typeof parseSignInRequest>>]> = [
    ['nothing given', {}, { organizationCode: undefined, createOrganizationNamed: undefined, registering: false }],
    ['an organization to create without a name', { is_create_org: 'true' }, { createOrganizationNamed: '' }],
    ['org_name without is_create_org', { org_name: 'Acme' }, { createOrganizationNamed: undefined }],
    ['a repeated org_code (an array)', { org_code: ['a', 'b'] }, { organizationCode: undefined }],
    ['an empty org_code', { org_code: '' }, { organizationCode: undefined }],
    ['a language tag that is not one', { lang: 'en_AU<script>' }, { language: undefined }],
    ['start_page=login', { start_page: 'login' }, { registering: false }],
    ['an unknown start_page', { start_page: 'elsewhere' }, { registering: false }],
  ];
  for (const [name, params, expected] of rows) {
    it(`reads ${name}`, () => {
      const parsed = parseSignInRequest(params);
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(parsed[key as keyof typeof parsed], value, key);
    });
  }
});
