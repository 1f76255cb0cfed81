import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certificate {
  certFile: string;
  keyFile: string;
}

/** A self-signed certificate made for this run, valid for these DNS names (wildcards allowed). */
export function selfSignedCertificate(names: string[]): Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const subjectAltName = `subjectAltName=${names.map((name) => `DNS:${name}`).join(',')}`;
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${names[0]}`, '-addext', subjectAltName, '-keyout', keyFile, '-out', certFile],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile };
}
