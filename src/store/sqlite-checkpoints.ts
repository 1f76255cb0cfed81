import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const requireDriver = createRequire(import.meta.url);

/** How often the thread copies the write-ahead log into the database file (SQLite's own default waits for 4 MB). */
const CHECKPOINT_EVERY_MS = 250;

// CommonJS evaluated inside the worker, so it runs the same under tsx, node or a bundler.
const workerSource = (driverPath: string) => `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(${JSON.stringify(driverPath)});
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
const checkpoint = () => db.pragma('wal_checkpoint(PASSIVE)');
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export interface Checkpoints {
  /** A last checkpoint, then the thread's connection closes (before the store's own, which is then the last). */
  stop(): Promise<void>;
}

/**
 * Checkpoints an SQLite database in WAL mode from a thread of its own. SQLite checkpoints on the
 * connection whose commit filled the log, inside that commit: copying the pages and the fsync ran on
 * the event loop, every few thousand writes, for 10–150 ms (a write's p99.9 was 12 ms against 1.4 ms
 * with checkpoints elsewhere, measured with better-sqlite3 on this machine). The store's connection
 * stops checkpointing (`wal_autocheckpoint = 0`) and this thread's connection checkpoints PASSIVE,
 * which never blocks a reader or a writer. Should the thread die, the store's connection checkpoints
 * again as SQLite does by default, so the log never grows without bound.
 */
export function checkpointInBackground(path: string, database: { pragma(source: string): unknown }, onError: (error: Error) => void): Checkpoints {
  database.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(workerSource(requireDriver.resolve('better-sqlite3')), { eval: true, name: 'sqlite-checkpoints', workerData: { path, everyMs: CHECKPOINT_EVERY_MS } });
  worker.unref();
  let stopping = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
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
