import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import zxcvbnCommon from '@zxcvbn-ts/language-common';
import {
  COMMON_PASSWORDS_FILE,
  FILE_MAGIC,
  isCommonPassword,
  loadCommonPasswords,
} from '../src/domain/common-passwords.ts';

// The source list ships with the build script (scripts/data/README.md).
const LIST = fileURLToPath(new URL('../scripts/data/common-passwords-top-100000.txt', import.meta.url));
const BUILD_SCRIPT = fileURLToPath(new URL('../scripts/build-common-passwords.ts', import.meta.url));

const longEnough = (entry: string) => [...entry.trim()].length >= 8;
const seclists = readFileSync(LIST, 'utf8').split('\n').filter((line) => line !== '').filter(longEnough);
const zxcvbnPasswords = zxcvbnCommon.dictionary['passwords-common'].filter(longEnough);

function randomPassword(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!';
  return Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('');
}

describe('common passwords (Kinde section 012)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'gatehouse-common-passwords-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('rejects the first and the last eligible entries of the SecLists list', () => {
    assert.equal(seclists[0], 'password');
    assert.equal(isCommonPassword(seclists[0]!), true);
    assert.equal(isCommonPassword(seclists.at(-1)!), true, seclists.at(-1));
  });

  it('rejects every SecLists entry of 8+ characters', () => {
    const missed = seclists.filter((entry) => !isCommonPassword(entry));
    assert.deepEqual(missed, []);
  });

  it('rejects every zxcvbn-ts entry of 8+ characters, including ones beyond the SecLists top 100,000', () => {
    const inSeclists = new Set(seclists.map((entry) => entry.toLowerCase()));
    const onlyInZxcvbn = zxcvbnPasswords.filter((entry) => !inSeclists.has(entry));
    assert.ok(onlyInZxcvbn.length > 100, `only ${onlyInZxcvbn.length} entries come from zxcvbn-ts alone`);
    assert.deepEqual(onlyInZxcvbn.filter((entry) => !isCommonPassword(entry)), []);
    assert.deepEqual(zxcvbnPasswords.filter((entry) => !isCommonPassword(entry)), []);
  });

  it('ignores case and surrounding whitespace', () => {
    for (const variant of ['password1', 'Password1', 'PASSWORD1', 'pAsSwOrD1', '  Password1\t', 'Iloveyou1', 'QWERTYUIOP']) {
      assert.equal(isCommonPassword(variant), true, variant);
    }
    for (const entry of seclists.filter((_, index) => index % 1000 === 0)) {
      assert.equal(isCommonPassword(entry.toUpperCase()), true, entry.toUpperCase());
    }
  });

  it('leaves passwords shorter than 8 characters to the length rule', () => {
    assert.equal(isCommonPassword('123456'), false);
    assert.equal(isCommonPassword('qwerty'), false);
  });

  it('accepts 1,000 random 16-character passwords', () => {
    const falsePositives = Array.from({ length: 1000 }, () => randomPassword(16)).filter(isCommonPassword);
    assert.deepEqual(falsePositives, []);
  });

  it('accepts long phrases that are unique to a person', () => {
    assert.equal(isCommonPassword('FiremanSoccerPoodleLemon'), false);
    assert.equal(isCommonPassword('my cat eats lasagne on tuesdays'), false);
  });

  it('ships a file whose header matches its contents', () => {
    const file = readFileSync(COMMON_PASSWORDS_FILE);
    const count = file.readUInt32BE(8);
    assert.equal(file.toString('latin1', 0, 4), FILE_MAGIC);
    assert.equal(file.readUInt16BE(4), 1, 'version');
    assert.equal(file.readUInt16BE(6), 64, 'fingerprint bits');
    assert.equal(file.byteLength, 16 + count * 8);
    assert.equal(loadCommonPasswords(), count);
    assert.ok(count >= 38_000, `${count} entries`);
  });

  it('ships exactly what the build script produces, byte for byte, on every run', () => {
    const outputs = ['first.bin', 'second.bin'].map((name) => {
      const out = join(scratch, name);
      execFileSync(process.execPath, ['--import', 'tsx', BUILD_SCRIPT, '--list', LIST, '--out', out], { stdio: 'pipe' });
      return readFileSync(out);
    });
    const shipped = readFileSync(COMMON_PASSWORDS_FILE);
    assert.equal(outputs[0]!.readUInt32BE(8), shipped.readUInt32BE(8), 'entry count');
    assert.ok(outputs[0]!.equals(outputs[1]!), 'two builds differ');
    assert.ok(outputs[0]!.equals(shipped), 'src/domain/data/common-passwords.bin is stale: run npx tsx scripts/build-common-passwords.ts');
  });
});
