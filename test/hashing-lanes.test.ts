import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { hashSync } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { argon2Hash, argon2Verify, bcryptVerify, DEFAULT_HASHING_LANES, HashingLaneStopped, stopHashingLanes, useHashingLanes } from '../src/crypto/hashing-lanes.ts';

// Small parameters: these tests are about the lanes, not the cost of a hash.
const CHEAP = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

describe('hashing lanes', () => {
  after(() => useHashingLanes(DEFAULT_HASHING_LANES));

  it('hashes as argon2id with the parameters given, and verifies what it hashed', async () => {
    const stored = await argon2Hash('correct horse battery staple', CHEAP);
    assert.match(stored, /^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    assert.equal(await argon2Verify(stored, 'correct horse battery staple'), true);
    assert.equal(await argon2Verify(stored, 'Correct horse battery staple'), false);
  });

  it('verifies a hash made elsewhere with other parameters (they are read from the hash)', async () => {
    const stored = hashSync('imported secret', { memoryCost: 2048, timeCost: 2, parallelism: 1 });
    assert.equal(await argon2Verify(stored, 'imported secret'), true);
  });

  it('rejects what is not an argon2 hash, and keeps working afterwards', async () => {
    await assert.rejects(argon2Verify('$2a$10$notargon', 'x'), /password hashing/);
    const stored = await argon2Hash('still fine', CHEAP);
    assert.equal(await argon2Verify(stored, 'still fine'), true);
  });

  it('checks imported bcrypt hashes ($2a$ and $2b$) off the event loop', async () => {
    const stored = bcrypt.hashSync('imported from auth0', 4);
    assert.equal(await bcryptVerify(stored, 'imported from auth0'), true);
    assert.equal(await bcryptVerify(stored.replace(/^\$2b\$/, '$2a$'), 'imported from auth0'), true);
    assert.equal(await bcryptVerify(stored, 'imported from okta'), false);
  });

  it('answers every job when many are queued over several lanes, each with its own result', async () => {
    useHashingLanes(3);
    const passwords = Array.from({ length: 24 }, (_, i) => `password number ${i}`);
    const hashes = await Promise.all(passwords.map((password) => argon2Hash(password, CHEAP)));
    assert.equal(new Set(hashes).size, passwords.length);
    const checks = await Promise.all(passwords.map((password, i) => argon2Verify(hashes[(i + 1) % hashes.length]!, password)));
    assert.deepEqual(checks, passwords.map(() => false));
    const rights = await Promise.all(passwords.map((password, i) => argon2Verify(hashes[i]!, password)));
    assert.deepEqual(rights, passwords.map(() => true));
  });

  it('rejects work queued on a thread that stops, as a failure rather than an answer, and starts afresh', async () => {
    const stored = await argon2Hash('stopping', { memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    const settled = Promise.allSettled(Array.from({ length: 6 }, () => argon2Verify(stored, 'stopping')));
    await stopHashingLanes();
    const outcomes = await settled;
    assert.ok(outcomes.some((o) => o.status === 'rejected'), 'work still queued when the thread stopped');
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof HashingLaneStopped, String(outcome.reason));
      else assert.equal(outcome.value, true);
    }
    assert.equal(await argon2Verify(stored, 'stopping'), true, 'a fresh thread takes the next job');
  });

  it('finishes the queued work of lanes it stops using when the count shrinks', async () => {
    useHashingLanes(3);
    const stored = await argon2Hash('shrinking', CHEAP);
    const inFlight = Array.from({ length: 12 }, () => argon2Verify(stored, 'shrinking'));
    useHashingLanes(1);
    assert.deepEqual(await Promise.all(inFlight), inFlight.map(() => true));
    assert.equal(await argon2Verify(stored, 'shrinking'), true);
  });
});
