import { type Gatehouse, startGatehouse } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { stopHashingLanes } from './crypto/hashing-lanes.ts';
import { MasterKey } from './crypto/master-key.ts';
import { longestTokenLifetimes } from './domain/applications.ts';
import { rotateSigningKeys } from './domain/signing-keys.ts';
import { migrateToLatest, openStore } from './store/db.ts';

/** Longer than the last log writes take; shorter than a supervisor's patience after the 10 s grace. */
const EXIT_FALLBACK_MS = 5_000;

const USAGE = `usage: gatehouse <command>
  serve                     start the server (the default)
  migrate                   bring the database schema up to date and exit
  rotate-keys [--publish-ahead-seconds N]
                            publish a new signing key now; it starts signing after N seconds
                            (default 3600) and the old key stays published until its tokens expire
  import <file> [--failed-rows <path>]
                            import users from CSV or JSON lines (Kinde's import columns); rows that
                            fail are listed with their line number and, with --failed-rows, saved`;

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

/**
 * Ends the process once everything is closed, by letting the event loop run dry rather than with
 * process.exit(): the last log lines are then written asynchronously, and when whoever read stdout
 * is gone (`npm start | pino-pretty` after Ctrl-C) pino learns of the broken pipe and drops them.
 * process.exit() would make pino flush synchronously, and its synchronous flush retries a broken
 * pipe forever: the process never ended. Should something still hold the loop open, exit anyway.
 */
function exitWhenIdle(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), EXIT_FALLBACK_MS).unref();
}

/**
 * SIGTERM (a supervisor, a rolling deploy) or SIGINT (Ctrl-C): stop gracefully and exit 0. Listening
 * from the very start, so a signal that arrives while the server is still starting stops it as soon
 * as it has started, instead of killing it halfway. A repeated signal changes nothing: Ctrl-C under
 * `npm start` delivers SIGINT twice (the terminal's, and the one npm forwards), and the stop is
 * bounded anyway. Returns what to call with the server once it has started.
 */
function stopOnSignals(): (started: Gatehouse) => void {
  let gatehouse: Gatehouse | undefined;
  let signalled: NodeJS.Signals | undefined;
  let stopping = false;
  const stopIfAsked = () => {
    if (stopping || !gatehouse || !signalled) return;
    stopping = true;
    const { logger } = gatehouse.services;
    // close() stops accepting before its first await: once this line is logged, new connections are refused.
    void gatehouse
      .close()
      .then(() => stopHashingLanes())
      .then(
        () => {
          logger.info('stopped');
          exitWhenIdle(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'stopping failed');
          exitWhenIdle(1);
        },
      );
    logger.info({ signal: signalled }, 'stopping: no new connections; finishing the requests in flight');
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signalled ??= signal;
    stopIfAsked();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return (started) => {
    gatehouse = started;
    stopIfAsked();
  };
}

async function main(): Promise<void> {
  const [command = 'serve', ...args] = process.argv.slice(2);
  switch (command) {
    case 'serve': {
      const serving = stopOnSignals();
      serving(await startGatehouse(loadConfig()));
      return;
    }
    case 'migrate':
      return migrate();
    case 'rotate-keys':
      return rotateKeys(args);
    case 'import':
      return (await import('./import-command.ts')).importCommand(args);
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
