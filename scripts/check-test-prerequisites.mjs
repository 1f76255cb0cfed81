// Run by `npm test` first. The browser tests start their SMTP and callback servers alongside
// Chromium; without Chromium they would wait out the test timeout instead of failing, so this says
// what is missing at once.
import { accessSync, constants } from 'node:fs';

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
try {
  accessSync(chromium, constants.X_OK);
} catch {
  console.error(`npm test: Chromium is not at ${chromium}. Install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH.`);
  process.exit(1);
}
