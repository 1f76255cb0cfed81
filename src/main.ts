import { startGatehouse } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { MasterKey } from './crypto/master-key.ts';
import { longestTokenLifetimes } from './domain/applications.ts';
import { rotateSigningKeys } from './domain/signing-keys.ts';
import { migrateToLatest, openStore } from './store/db.ts';

const USAGE = `usage: gatehouse <command>
  serve                     start the server (the default)
  migrate                   bring the database schema up to date and exit
  rotate-keys [--publish-ahead-seconds N]
                            publish a new signing key now; it starts signing after N seconds
                            (default 3600) and the old key stays published until its tokens expire`;

async function migrate(): Promise<void> {
  const config = loadConfig();
  const store = openStore(config.databaseUrl);
  try {
    const applied = await migrateToLatest(store.db);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await store.close();
  }
}

async function rotateKeys(args: string[]): Promise<void> {
  const flag = args.indexOf('--publish-ahead-seconds');
  const publishAheadSeconds = flag >= 0 ? Number(args[flag + 1]) : 3600;
  if (!Number.isInteger(publishAheadSeconds) || publishAheadSeconds < 0) throw new Error('--publish-ahead-seconds takes a whole number of seconds');
  const config = loadConfig();
  const store = openStore(config.databaseUrl);
  try {
    await migrateToLatest(store.db);
    const master = MasterKey.load(config.masterKey, config.dataDir);
    const longest = await longestTokenLifetimes(store.db);
    const longestSeconds = Math.max(longest.accessToken, longest.idToken);
    const { kid, activeFrom } = await rotateSigningKeys(store.db, master, {
      publishAheadMs: publishAheadSeconds * 1000,
      longestTokenLifetimeMs: longestSeconds * 1000,
    });
    console.log(`new signing key ${kid} is published now and signs from ${new Date(activeFrom).toISOString()}`);
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const [command = 'serve', ...args] = process.argv.slice(2);
  switch (command) {
    case 'serve': {
      const gatehouse = await startGatehouse(loadConfig());
      const stop = () => gatehouse.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return;
    }
    case 'migrate':
      return migrate();
    case 'rotate-keys':
      return rotateKeys(args);
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(`gatehouse: invalid configuration: ${error.message}`);
  else console.error(`gatehouse: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
