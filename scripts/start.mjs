// `npm start` / `npm run gatehouse -- <command>`: compiles src/ to dist/ when dist is missing or older
// than the sources (the first start after `npm ci` or an edit), then runs dist/main.js in this very
// process. No second process: the pid npm starts (`exec` in package.json, so no shell in between) is
// the server, and the SIGTERM/SIGINT npm forwards reaches it. In production run `node dist/main.js
// serve` after `npm run build`, without npm around it.
import { build, isBuildStale } from './build.mjs';

if (isBuildStale()) {
  console.error('gatehouse: compiling src/ to dist/ (after an install or a change; later starts skip this)');
  try {
    build();
  } catch (error) {
    console.error(`gatehouse: ${error.message}`);
    process.exit(1);
  }
}
await import('../dist/main.js');
