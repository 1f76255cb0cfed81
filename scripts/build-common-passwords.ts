/**
 * Builds src/domain/data/common-passwords.bin, the blocklist behind isCommonPassword (Kinde blocks
 * its 1,000,000 most common passwords, spec section 012). The .bin is committed; the server reads
 * only it, so neither source below is needed at run time.
 *
 * Regenerate (deterministic: the same sources always give the same bytes):
 *   npx tsx scripts/build-common-passwords.ts [--list PATH] [--out PATH]
 *
 * Sources, merged here:
 *   1. --list, by default scripts/data/common-passwords-top-100000.txt (a copy of shared/data's, shipped):
 *      SecLists' "10 million password list" top 100,000, one per line (see scripts/data/README.md).
 *   2. The 'passwords-common' dictionary of @zxcvbn-ts/language-common (a dev dependency), also
 *      mined from the 10 million list, which adds a few entries beyond the top 100,000.
 *
 * Each entry is normalized the way a lookup is (trim, lowercase). Entries that come out shorter than
 * MIN_PASSWORD_LENGTH code points are dropped to save space: the length rule already refuses them.
 * One gap follows from trimming: "1234567 " passes the length rule and normalizes to "1234567",
 * which is not in the file. Keeping the short entries (58,350 more) closes it for 0.47 MB more.
 *
 * Fingerprints are 64 bits (SHA-256, truncated). Two distinct entries sharing one is expected
 * ~n²/2⁶⁵ ≈ 4·10⁻¹¹ times for n ≈ 38,600 entries; the build reports it if it ever happens. A random password
 * matches some entry with probability n/2⁶⁴ ≈ 2·10⁻¹⁵, and a false match only asks the person to
 * choose another password.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import zxcvbnCommon from '@zxcvbn-ts/language-common';
import {
  COMMON_PASSWORDS_FILE,
  commonPasswordFingerprint,
  FILE_MAGIC,
  FILE_VERSION,
  FINGERPRINT_BYTES,
  HEADER_BYTES,
  normalizeForCommonCheck,
} from '../src/domain/common-passwords.ts';
import { MIN_PASSWORD_LENGTH } from '../src/domain/passwords.ts';

const DEFAULT_LIST = new URL('./data/common-passwords-top-100000.txt', import.meta.url);

function readLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter((line) => line !== '');
}

function eligible(entries: string[]): string[] {
  return entries.map(normalizeForCommonCheck).filter((entry) => [...entry].length >= MIN_PASSWORD_LENGTH);
}

function blocklistFile(fingerprints: string[]): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(FILE_MAGIC, 0, 'latin1');
  header.writeUInt16BE(FILE_VERSION, 4);
  header.writeUInt16BE(FINGERPRINT_BYTES * 8, 6);
  header.writeUInt32BE(fingerprints.length, 8);
  return Buffer.concat([header, Buffer.from(fingerprints.join(''), 'hex')]);
}

const { values } = parseArgs({ options: { list: { type: 'string' }, out: { type: 'string' } } });
const listPath = values.list ?? fileURLToPath(DEFAULT_LIST);
const outPath = values.out ?? fileURLToPath(COMMON_PASSWORDS_FILE);

const sources = {
  [listPath]: readLines(listPath),
  '@zxcvbn-ts/language-common passwords-common': zxcvbnCommon.dictionary['passwords-common'],
};
const distinct = new Set<string>();
for (const [name, entries] of Object.entries(sources)) {
  const kept = eligible(entries);
  const before = distinct.size;
  for (const entry of kept) distinct.add(entry);
  console.log(`${name}: ${entries.length} entries, ${kept.length} of ${MIN_PASSWORD_LENGTH}+ characters, ${distinct.size - before} new`);
}

// Fixed-width lowercase hex sorts in numeric order.
const fingerprints = [...new Set([...distinct].map(commonPasswordFingerprint))].sort();
const file = blocklistFile(fingerprints);

mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, file);
const collisions = distinct.size - fingerprints.length;
console.log(
  `${outPath}: ${fingerprints.length} fingerprints (${distinct.size} distinct entries, ${collisions} collisions), ${file.byteLength} bytes`,
);
