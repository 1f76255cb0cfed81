import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { decodeProtectedHeader } from 'jose';
import { clock } from '../src/clock.ts';
import { encodesCleanly, newKid, rotateSigningKeys } from '../src/domain/signing-keys.ts';
import { testDatabases } from './support/databases.ts';
import { BOOTSTRAP, startTestServer, type TestServer } from './support/server.ts';

const HOUR = 60 * 60 * 1000;

describe('key ids', () => {
  it('always encode cleanly for atob() in every header Gatehouse signs', () => {
    for (let i = 0; i < 200; i++) assert.ok(encodesCleanly(newKid()));
  });

  it('recognises a kid that would break atob()', () => {
    // A byte whose low six bits are 62 or 63 ('~', '?', '>') becomes '-' or '_' when it ends a
    // 3-byte group; one of three alignments puts it there.
    const breaking = ['~', 'a~', 'aa~'].find((kid) => !encodesCleanly(kid));
    assert.ok(breaking, 'some kids do not encode cleanly');
    const headers = [{ typ: 'at+jwt' }, {}, { typ: 'JWT' }, { typ: 'logout+jwt' }].map((extra) =>
      Buffer.from(JSON.stringify({ alg: 'RS256', ...extra, kid: breaking })).toString('base64url'),
    );
    assert.ok(headers.some((header) => /[-_]/.test(header)));
  });
});

for (const database of testDatabases()) {
  describe(`signing-key rotation (${database.name})`, () => {
    let server: TestServer;
    let drop: () => Promise<void>;
    let databaseUrl: string;
    const masterKey = Buffer.alloc(32, 7).toString('base64url');

    before(async () => {
      const db = await database.create();
      drop = db.drop;
      databaseUrl = db.url;
      server = await startTestServer({ databaseUrl, env: { GATEHOUSE_MASTER_KEY: masterKey } });
    });

    after(async () => {
      clock.reset();
      await server?.close();
      await drop?.();
    });

    async function issuedKid(): Promise<{ kid: string; token: string }> {
      const response = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: BOOTSTRAP.id, client_secret: BOOTSTRAP.secret, audience: `${server.services.config.issuer}/api` }),
      });
      const { access_token: token } = (await response.json()) as { access_token: string };
      return { kid: decodeProtectedHeader(token).kid!, token };
    }

    async function publishedKids(): Promise<string[]> {
      const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string; use: string; alg: string; d?: string }> };
      for (const key of jwks.keys) {
        assert.equal(key.use, 'sig');
        assert.equal(key.alg, 'RS256');
        assert.equal(key.d, undefined, 'never the private part');
      }
      return jwks.keys.map((k) => k.kid).sort();
    }

    const accepted = async (token: string) =>
      (await fetch(`${server.url}/api/v1/applications`, { headers: { authorization: `Bearer ${token}` } })).status === 200;

    // Runs first: the child process's clock is the real one, before the test below moves this process's.
    it('rotates from the command line, and a running server picks the key up', async () => {
      const { kid: current } = await issuedKid();
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/main.ts', 'rotate-keys', '--publish-ahead-seconds', '0'], {
        env: { ...process.env, DATABASE_URL: databaseUrl, GATEHOUSE_MASTER_KEY: masterKey, LOG_LEVEL: 'silent' },
      });
      const kid = /new signing key (\w+)/.exec(stdout)?.[1];
      assert.ok(kid, stdout);
      await server.reloadKeys();
      assert.ok((await publishedKids()).includes(current));
      assert.equal((await issuedKid()).kid, kid);
    });

    it('publishes the new key first, signs with it later, and drops the old one once its tokens are dead', async () => {
      const before = await issuedKid();
      const { kid: next } = await rotateSigningKeys(server.services.db, server.services.masterKey, { publishAheadMs: HOUR, longestTokenLifetimeMs: 24 * HOUR });
      await server.reloadKeys();

      const published = await publishedKids();
      assert.ok(published.includes(before.kid) && published.includes(next), 'both keys are published');
      assert.equal((await issuedKid()).kid, before.kid, 'the old key still signs while caches learn the new one');

      clock.advance(HOUR + 1000);
      await server.reloadKeys();
      const after = await issuedKid();
      assert.equal(after.kid, next, 'the new key signs once its publication time is over');
      assert.ok(await accepted(before.token), 'tokens signed by the old key stay valid');
      assert.ok(await accepted(after.token));

      clock.advance(24 * HOUR);
      await server.reloadKeys();
      assert.deepEqual(await publishedKids(), [next], 'older keys leave the JWKS when nothing they signed can be valid');
    });
  });
}
