import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The master key encrypts secrets at rest (AES-256-GCM) and derives the cookie and CSRF keys.
 * Replicas sharing one database must share it: give it as GATEHOUSE_MASTER_KEY. On a single machine
 * it is generated into the data directory on first start.
 */
export class MasterKey {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('master key must be 32 bytes');
    this.#key = key;
  }

  static load(configured: string | undefined, dataDir: string): MasterKey {
    if (configured) return new MasterKey(Buffer.from(configured, 'base64url'));
    const file = join(dataDir, 'master.key');
    if (existsSync(file)) return new MasterKey(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url'));
    mkdirSync(dataDir, { recursive: true });
    const key = randomBytes(32);
    writeFileSync(file, key.toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
    return new MasterKey(key);
  }

  /** A purpose-bound subkey, so that one leaked use cannot forge another. */
  derive(purpose: string, length = 32): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `gatehouse:${purpose}`, length));
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  open(sealed: string, context: string): string {
    const [version, iv, body, tag] = sealed.split('.');
    if (version !== 'v1' || !iv || !body || !tag) throw new Error('unrecognised sealed value');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }
}
