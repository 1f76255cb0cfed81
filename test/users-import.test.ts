import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { hash as argon2 } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { parseImportFile } from '../src/domain/import/rows.ts';
import { importUsers } from '../src/domain/import/users.ts';
import { checkPassword, storedHash } from '../src/domain/passwords.ts';
import { findUserByProvidedId, primaryIdentity } from '../src/domain/users.ts';
import { testDatabases } from './support/databases.ts';
import { serverForSuite, startTestServer, type TestServer } from './support/server.ts';
import { IMPORT_LEASE_MS } from '../src/domain/import/jobs.ts';
import { clock } from '../src/clock.ts';

const csvCell = (value: string) => (/[",\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

async function mixedCsv(): Promise<string> {
  const rows = [
    ['id', 'email', 'email_verified', 'username', 'first_name', 'last_name', 'hashed_password', 'hashing_method', 'salt', 'organizations', 'roles', 'created_on', 'is_suspended'],
    ['src-1', 'bea@example.test', 'true', '', 'Bea', 'Crypt', bcrypt.hashSync('bcrypt password 1', 8), 'bcrypt', '', '', '', '2020-01-02T03:04:05Z', 'false'],
    ['src-2', 'ari@example.test', 'true', 'ari', 'Ari', 'Gon', await argon2('argon2 password 2'), 'argon2', '', '', '', '', ''],
    ['src-3', 'sha@example.test', 'TRUE', '', 'Sha', 'Salted', createHash('sha256').update('pepper' + 'sha password 3').digest('hex'), 'sha256', 'pepper', '', '', '', ''],
    ['src-4', 'plain@example.test', 'false', '', 'Plain, "Jane"', '', '', '', '', '', '', '', 'true'],
    ['src-5', 'not-an-email', 'true', '', '', '', '', '', '', '', '', '', ''],
    ['src-6', 'sha1@example.test', 'true', '', '', '', 'abc', 'sha1', '', '', '', '', ''],
    ['src-7', 'dupe@example.test', 'true', 'ari', '', '', '', '', '', '', '', '', ''],
  ];
  return `${rows.map((row) => row.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

for (const database of testDatabases()) {
  describe(`bulk user import (${database.name})`, () => {
    let server: TestServer;
    serverForSuite(database, (started) => (server = started));

    it('imports bcrypt, argon2, salted sha256 and password-less users; reports bad rows by line; signs them in and upgrades the hash', async () => {
      const { db } = server.services;
      const rows = parseImportFile(await mixedCsv());
      const progress: number[] = [];
      const result = await importUsers(db, rows, (p) => progress.push(p.done));
      assert.deepEqual([result.created, result.updated, result.skipped, result.failed], [4, 0, 0, 3]);
      assert.deepEqual(progress, [1, 2, 3, 4, 5, 6, 7]);
      assert.deepEqual(
        result.failures.map((f) => [f.line, f.reason]),
        [
          [6, 'email is not a valid email address'],
          [7, `hashing_method must be one of bcrypt, argon2, sha256, md5, pbkdf2`],
          [8, 'A user with this identity already exists'],
        ],
      );

      const bea = (await findUserByProvidedId(db, 'src-1'))!;
      assert.equal(primaryIdentity(bea, 'email')?.isVerified, true);
      assert.equal(new Date(bea.createdAt).toISOString(), '2020-01-02T03:04:05.000Z');
      const plain = (await findUserByProvidedId(db, 'src-4'))!;
      assert.equal(plain.firstName, 'Plain, "Jane"');
      assert.equal(plain.isSuspended, true);
      assert.equal(primaryIdentity(plain, 'email')?.isVerified, false);

      for (const [providedId, password, method] of [['src-1', 'bcrypt password 1', 'bcrypt'], ['src-2', 'argon2 password 2', 'argon2'], ['src-3', 'sha password 3', 'sha256']]) {
        const user = (await findUserByProvidedId(db, providedId!))!;
        assert.equal((await storedHash(db, user.id))?.method, method);
        assert.equal(await checkPassword(db, user.id, 'wrong password'), 'wrong');
        assert.equal(await checkPassword(db, user.id, password!), 'right', providedId);
        assert.equal((await storedHash(db, user.id))?.method, 'argon2id', 'upgraded on the first sign-in');
      }

      const again = await importUsers(db, rows);
      assert.deepEqual([again.created, again.updated, again.skipped, again.failed], [0, 0, 4, 3], 'the same file twice changes nothing (signed-in hashes stay argon2id)');

      const changed = parseImportFile('id,email,first_name,organizations,roles\nsrc-4,plain@example.test,Janet,,\n,sha@example.test,Sha,,\n');
      const update = await importUsers(db, changed);
      assert.deepEqual([update.created, update.updated, update.skipped, update.failed], [0, 1, 1, 0], 'a changed row updates; matched by provided id, else by email');
      assert.equal((await findUserByProvidedId(db, 'src-4'))!.firstName, 'Janet');

      const summary = await db.selectFrom('audit_events').select('detail').where('type', '=', 'users.imported').execute();
      assert.equal(summary.length, 3, 'one summarising event per run, not one per user');
      assert.equal((await db.selectFrom('webhook_deliveries').select('position').execute()).length, 0);
    });

    it('reads JSON lines, with organizations and roles', async () => {
      const { db } = server.services;
      const code = (await server.api('POST', '/organization', { name: 'Imported Org' })).body.organization.code;
      assert.equal((await server.api('POST', '/roles', { key: 'imported-role', name: 'Imported' })).status, 201);
      const jsonl = [
        JSON.stringify({ id: 'json-1', email: 'json@example.test', email_verified: true, organizations: [code], roles: ['imported-role'] }),
        '{not json',
        JSON.stringify({ id: 'json-3', phone: '+14155552671', phone_verified: true, organizations: 'org_00000000000' }),
      ].join('\n');
      const result = await importUsers(db, parseImportFile(jsonl));
      assert.deepEqual([result.created, result.failed], [1, 2]);
      assert.deepEqual(result.failures.map((f) => f.line), [2, 3]);
      const member = await server.api('GET', `/organizations/${code}/users`);
      assert.deepEqual(member.body.organization_users.map((u: any) => [u.id, u.roles]), [[(await findUserByProvidedId(db, 'json-1'))!.id, ['imported-role']]]);
    });

    it('imports through the management API as a job whose progress can be read', async () => {
      const csv = ['id,email,first_name', ...Array.from({ length: 30 }, (_, i) => `api-${i},api${i}@example.test,Api ${i}`), 'api-bad,nope,Bad'].join('\n');
      const response = await fetch(`${server.url}/api/v1/users/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await server.managementToken()}`, 'content-type': 'text/csv' },
        body: csv,
      });
      assert.equal(response.status, 202);
      const { job } = (await response.json()) as any;
      assert.match(job.id, /^import_[0-9a-f]{32}$/);
      assert.equal(job.total, 31);
      let finished: any;
      const deadline = Date.now() + 10_000;
      do {
        finished = (await server.api('GET', `/users/import/${job.id}`)).body.job;
        if (finished.status !== 'running') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      } while (Date.now() < deadline);
      assert.equal(finished.status, 'finished', JSON.stringify(finished));
      assert.deepEqual([finished.done, finished.created, finished.failed], [31, 30, 1]);
      assert.deepEqual(finished.failures, [{ line: 32, reason: 'email is not a valid email address' }]);
      assert.equal((await findUserByProvidedId(server.services.db, 'api-29'))?.firstName, 'Api 29');
      assert.equal((await server.api('GET', '/users/import/import_nope')).status, 404);
    });

    if (database.name === 'sqlite') {
      it('runs from the command line with progress, a summary and a file of the failed rows', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'gatehouse-import-'));
        const file = join(dir, 'users.csv');
        writeFileSync(file, await mixedCsv());
        const failed = join(dir, 'failed.jsonl');
        const run = promisify(execFile);
        const outcome = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'import', file, '--failed-rows', failed], {
          env: { ...process.env, DATABASE_URL: `sqlite:${join(dir, 'gatehouse.sqlite')}`, GATEHOUSE_DATA_DIR: dir },
        }).then(
          () => ({ code: 0, stdout: '', stderr: '' }),
          (error: { code: number; stdout: string; stderr: string }) => error,
        );
        assert.equal(outcome.code, 1, 'some rows failed');
        assert.match(outcome.stdout, /imported 7 rows: 4 created, 0 updated, 0 skipped, 3 failed/);
        assert.match(outcome.stderr, /7\/7 rows · \d+ rows\/s · ETA 0s/);
        assert.match(outcome.stderr, /line 6: email is not a valid email address/);
        assert.deepEqual(readFileSync(failed, 'utf8').trim().split('\n').map((line) => JSON.parse(line).line), [6, 7, 8]);
      });
    }
  });

  describe(`an import job whose process stops (${database.name})`, () => {
    let url: string;
    let drop: () => Promise<void>;
    let server: TestServer | undefined;
    const env = { GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url') };
    /** Another Gatehouse on the same database, as after a restart (the same master key opens its keys). */
    const restart = async () => {
      await server?.close();
      server = await startTestServer({ databaseUrl: url, env });
      return server;
    };
    before(async () => {
      ({ url, drop } = await database.create());
    });
    after(async () => {
      clock.reset();
      await server?.close();
      await drop();
    });

    const rows = 8_000;
    const csv = ['id,email,first_name', ...Array.from({ length: rows }, (_, i) => `big-${i},big${i}@example.test,Big`)].join('\n');
    const startImport = async (on: TestServer) => {
      const response = await fetch(`${on.url}/api/v1/users/import`, { method: 'POST', headers: { authorization: `Bearer ${await on.managementToken()}`, 'content-type': 'text/csv' }, body: csv });
      assert.equal(response.status, 202);
      return ((await response.json()) as any).job.id as string;
    };
    const jobOf = async (on: TestServer, id: string) => (await on.api('GET', `/users/import/${id}`)).body.job;
    /** Reads the job until `done(job)` (its progress is written every 250 ms), for at most a minute. */
    async function jobUntil(on: TestServer, id: string, done: (job: any) => boolean): Promise<any> {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const job = await jobOf(on, id);
        if (done(job) || Date.now() > deadline) return job;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }

    it('reads as interrupted after the restart, with the rows done before the stop; the same file again imports the rest', async () => {
      const first = await restart();
      const id = await startImport(first);
      const started = await jobUntil(first, id, (job) => job.done > 0);
      assert.equal(started.status, 'running');
      const second = await restart();

      const interrupted = await jobOf(second, id);
      assert.equal(interrupted.status, 'interrupted', JSON.stringify(interrupted));
      assert.match(interrupted.error, /The server stopped after \d+ of 8000 rows\. Import the same file again/);
      assert.ok(interrupted.done > 0 && interrupted.done < rows, `stopped mid-way: ${interrupted.done}`);
      assert.equal(interrupted.created, interrupted.done);
      assert.ok(interrupted.finished_on);
      const imported = await second.services.db.selectFrom('users').select(({ fn }) => fn.countAll().as('n')).where('provided_id', 'like', 'big-%').executeTakeFirstOrThrow();
      assert.equal(Number(imported.n), interrupted.done, 'the counts say exactly what is in');

      const rerun = await jobUntil(second, await startImport(second), (job) => job.status !== 'running');
      assert.equal(rerun.status, 'finished', JSON.stringify(rerun));
      assert.deepEqual([rerun.created, rerun.skipped, rerun.failed], [rows - interrupted.done, interrupted.done, 0]);
    });

    it('marks a job whose process stopped beating its heartbeat interrupted, and leaves a live replica’s job running', async () => {
      const on = server!;
      const now = clock.now();
      const job = (id: string, updatedAt: number) => ({
        id, status: 'running' as const, total: 100, done: 40, created: 40, updated: 0, skipped: 0, failed: 0, failures: '[]', error: null, created_at: now - 60_000, updated_at: updatedAt, finished_at: null,
      });
      await on.services.db.insertInto('import_jobs').values([job('import_crashed', now - IMPORT_LEASE_MS - 1), job('import_elsewhere', now - 1000), job('import_atstart', now - 1000)]).execute();

      const crashed = await jobOf(on, 'import_crashed');
      assert.equal(crashed.status, 'interrupted');
      assert.match(crashed.error, /The process running this import stopped before it finished/);
      assert.deepEqual([crashed.done, crashed.created, crashed.total], [40, 40, 100], 'its counts so far');
      assert.equal((await jobOf(on, 'import_elsewhere')).status, 'running', 'another replica is still running it');

      // A restart later: the jobs nobody beat for the lease are interrupted at start-up (on SQLite, every
      // running job: only one process uses the file).
      clock.advance(IMPORT_LEASE_MS + 1);
      const restarted = await restart();
      const atStart = await restarted.services.db.selectFrom('import_jobs').select('status').where('id', '=', 'import_atstart').executeTakeFirstOrThrow();
      assert.equal(atStart.status, 'interrupted');
    });
  });
}
