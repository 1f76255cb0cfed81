import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { databaseAdapter } from '../src/protocol/adapter.ts';
import type { Store } from '../src/store/db.ts';
import { testDatabases } from './support/databases.ts';
import { codeForEmailSignIn } from './support/code-grant.ts';
import { serverWithMailForSuite, type TestServer } from './support/server.ts';
import type { TestSmtp } from './support/smtp.ts';
import { storeForSuite } from './support/store-suite.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';
const RACERS = 8;

/** How many of these settled promises were fulfilled, and the errors of the others. */
function outcomes<T>(settled: PromiseSettledResult<T>[]): { won: T[]; lost: unknown[] } {
  return {
    won: settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])),
    lost: settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : [])),
  };
}

for (const database of testDatabases()) {
  describe(`one-time credentials in the store (${database.name})`, () => {
    let store: Store;
    storeForSuite(database, (opened) => {
      store = opened;
    });

    for (const model of ['AuthorizationCode', 'RefreshToken', 'DeviceCode']) {
      it(`lets exactly one of ${RACERS} concurrent consumptions of a ${model} win, and revokes its grant for the others`, async () => {
        const Adapter = databaseAdapter(store.db, async () => undefined);
        const credentials = new Adapter(model);
        const grantId = `grant-${model}`;
        await new Adapter('Grant').upsert(grantId, { accountId: 'kp_1' } as never, 600);
        await credentials.upsert(`${model}-1`, { grantId } as never, 600);
        await new Adapter('AccessToken').upsert(`${model}-sibling`, { grantId } as never, 600);

        const { won, lost } = outcomes(await Promise.allSettled(Array.from({ length: RACERS }, () => credentials.consume(`${model}-1`))));
        assert.equal(won.length, 1, 'one consumption wins');
        assert.equal(lost.length, RACERS - 1);
        for (const error of lost) assert.equal((error as { error?: string }).error, 'invalid_grant');
        assert.equal(await new Adapter('Grant').find(grantId), undefined, 'the grant is revoked');
        assert.equal(await new Adapter('AccessToken').find(`${model}-sibling`), undefined, 'with everything it issued');
      });
    }

    it('never clears a consumption when the engine saves a consumed model again', async () => {
      const codes = new (databaseAdapter(store.db, async () => undefined))('DeviceCode');
      await codes.upsert('resaved', { grantId: 'g-resaved' } as never, 600);
      await codes.consume('resaved');
      await codes.upsert('resaved', { grantId: 'g-resaved', accountId: 'kp_1' } as never, 600);
      assert.equal(typeof (await codes.find('resaved'))?.consumed, 'number');
    });
  });

  describe(`racing redemptions at the token endpoint (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let spaId: string;
    serverWithMailForSuite(database, (started, mail) => {
      server = started;
      smtp = mail;
    });
    before(async () => {
      spaId = (await server.createApplication({ type: 'spa', redirectUrls: [CALLBACK] })).id;
    });

    const authorizationCode = (email: string) => codeForEmailSignIn(server.url, smtp, email, { client_id: spaId, redirect_uri: CALLBACK, scope: 'openid email offline' });

    const token = (params: Record<string, string>) =>
      fetch(`${server.url}/oauth2/token`, { method: 'POST', body: new URLSearchParams({ client_id: spaId, ...params }) }).then(async (response) => ({
        status: response.status,
        body: (await response.json()) as Record<string, string>,
      }));

    /** Sends the same request `RACERS` times at once; asserts exactly one succeeds and the others are invalid_grant. */
    async function race(params: Record<string, string>): Promise<Record<string, string>> {
      const answers = await Promise.all(Array.from({ length: RACERS }, () => token(params)));
      const winners = answers.filter((answer) => answer.status === 200);
      assert.equal(winners.length, 1, `exactly one redemption succeeds: ${JSON.stringify(answers.map((a) => a.status))}`);
      for (const loser of answers.filter((answer) => answer.status !== 200)) {
        assert.equal(loser.status, 400);
        assert.equal(loser.body.error, 'invalid_grant');
      }
      return winners[0]!.body;
    }

    it('redeems a refresh token once when requests race, and the reuse ends the whole family', async () => {
      const { code, verifier } = await authorizationCode('refresh.race@example.test');
      const issued = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK });
      assert.equal(issued.status, 200);
      const winner = await race({ grant_type: 'refresh_token', refresh_token: issued.body.refresh_token! });
      assert.ok(winner.refresh_token);
      const afterwards = await token({ grant_type: 'refresh_token', refresh_token: winner.refresh_token! });
      assert.equal(afterwards.body.error, 'invalid_grant', 'the winner’s new refresh token was revoked with the family');
    });

    it('redeems a code whose tokens include no refresh token once when requests race, and ends the access token it issued', async () => {
      const { code, verifier } = await codeForEmailSignIn(server.url, smtp, 'code.race.online@example.test', { client_id: spaId, redirect_uri: CALLBACK, scope: 'openid email' });
      const winner = await race({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK });
      assert.equal(winner.refresh_token, undefined);
      const profile = await fetch(`${server.url}/oauth2/v2/user_profile`, { headers: { authorization: `Bearer ${winner.access_token}` } });
      assert.equal(profile.status, 401, 'the grant the raced code made is revoked');
    });

    it('redeems an authorization code once when requests race, and revokes what it issued', async () => {
      const { code, verifier } = await authorizationCode('code.race@example.test');
      const winner = await race({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK });
      const afterwards = await token({ grant_type: 'refresh_token', refresh_token: winner.refresh_token! });
      assert.equal(afterwards.body.error, 'invalid_grant', 'the refresh token the code issued was revoked');
    });
  });
}
