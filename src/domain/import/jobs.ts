import type { Logger } from 'pino';
import { clock } from '../../clock.ts';
import { newId } from '../../crypto/ids.ts';
import { afterCommit, type Db, type Dialect } from '../../store/db.ts';
import type { ImportJobsTable } from '../../store/schema.ts';
import { DomainError } from '../errors.ts';
import type { ImportRow } from './rows.ts';
import { type ImportProgress, importUsers } from './users.ts';

/** Progress is written at most this often: a million rows must not mean a million extra writes. */
const PROGRESS_EVERY_MS = 250;
const FAILURES_KEPT = 1000;
/** A running job's process says it is alive this often (`updated_at`), even when no row finished. */
export const IMPORT_HEARTBEAT_MS = 5_000;
/**
 * A running job not heard from for this long lost its process (a crash, a kill, a lost machine):
 * six missed heartbeats, so a replica busy for a few seconds is never taken for dead.
 */
export const IMPORT_LEASE_MS = 30_000;

export interface ImportJob {
  id: string;
  status: ImportJobsTable['status'];
  progress: ImportProgress;
  failures: Array<{ line: number; reason: string }>;
  error: string | null;
  createdAt: number;
  finishedAt: number | null;
}

const RERUN_HINT = 'Import the same file again: rows already imported are skipped.';

const counts = (progress: ImportProgress) => ({ done: progress.done, created: progress.created, updated: progress.updated, skipped: progress.skipped, failed: progress.failed });

interface RunningJob {
  stop: AbortController;
  finished: Promise<void>;
}

/**
 * The bulk-import jobs of this process (POST /api/v1/users/import). A job runs in the background of
 * the process that accepted it and beats a heartbeat (`updated_at`) while it runs, so every replica
 * can tell a live job from one whose process is gone: that one becomes `interrupted`, with its
 * counts so far, when read or at the next start-up. Stopping the server interrupts its own jobs at
 * once. Jobs are not resumed: the file is not kept, and importing it again is idempotent.
 */
export class ImportJobs {
  private readonly running = new Map<string, RunningJob>();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly dialect: Dialect,
  ) {}

  /**
   * Jobs left `running` by a process that is gone. On SQLite only one process uses the file, so
   * every one of them is; on PostgreSQL only those whose heartbeat stopped (another replica may be
   * running its own right now).
   */
  async interruptAbandoned(): Promise<number> {
    const cutoff = this.dialect === 'sqlite' ? Number.MAX_SAFE_INTEGER : clock.now() - IMPORT_LEASE_MS;
    return interruptStale(this.db, cutoff);
  }

  /**
   * Records the job through `db` (the request's unit of work) and starts importing `rows` once that
   * has committed (so progress is readable from any replica); returns the job's id.
   */
  async start(db: Db, rows: readonly ImportRow[], concurrency = 1): Promise<string> {
    const id = newId.importJob();
    const now = clock.now();
    await db
      .insertInto('import_jobs')
      .values({ id, status: 'running', total: rows.length, done: 0, created: 0, updated: 0, skipped: 0, failed: 0, failures: '[]', error: null, created_at: now, updated_at: now, finished_at: null })
      .execute();
    afterCommit(db, () => {
      const stop = new AbortController();
      const finished = this.run(id, rows, concurrency, stop.signal)
        .catch((err: unknown) => this.logger.error({ err, job: id }, 'import job failed'))
        .finally(() => this.running.delete(id));
      this.running.set(id, { stop, finished });
    });
    return id;
  }

  /** Server shutdown: each job of this process stops after its rows in flight and says so. */
  async stop(): Promise<void> {
    const jobs = [...this.running.values()];
    for (const job of jobs) job.stop.abort();
    await Promise.all(jobs.map((job) => job.finished));
  }

  private async run(id: string, rows: readonly ImportRow[], concurrency: number, signal: AbortSignal): Promise<void> {
    let latest: ImportProgress = { done: 0, total: rows.length, created: 0, updated: 0, skipped: 0, failed: 0 };
    let writtenAt = clock.now();
    let writing: Promise<unknown> = Promise.resolve();
    const write = () => {
      writtenAt = clock.now();
      const progress = counts(latest);
      writing = writing
        .then(() => this.db.updateTable('import_jobs').set({ ...progress, updated_at: clock.now() }).where('id', '=', id).where('status', '=', 'running').execute())
        // A progress write that fails (the database blinked) is not the import failing: the next one catches up.
        .catch((err: unknown) => this.logger.warn({ err, job: id }, 'writing import progress failed'));
    };
    const heartbeat = setInterval(() => {
      if (clock.now() - writtenAt >= IMPORT_HEARTBEAT_MS / 2) write();
    }, IMPORT_HEARTBEAT_MS);
    heartbeat.unref();
    try {
      const result = await importUsers(
        this.db,
        rows,
        (progress) => {
          latest = progress;
          if (clock.now() - writtenAt >= PROGRESS_EVERY_MS) write();
        },
        { concurrency, signal },
      );
      clearInterval(heartbeat);
      await writing;
      if (signal.aborted) {
        await this.end(id, 'interrupted', result, `The server stopped after ${result.done} of ${result.total} rows. ${RERUN_HINT}`, result.failures);
        return;
      }
      await this.end(id, 'finished', result, null, result.failures);
    } catch (error) {
      clearInterval(heartbeat);
      await writing;
      await this.end(id, 'failed', latest, error instanceof Error ? error.message : String(error));
      throw error;
    }
  }

  private async end(id: string, status: 'finished' | 'failed' | 'interrupted', progress: ImportProgress, error: string | null, failures: Array<{ line: number; reason: string }> = []): Promise<void> {
    const kept = failures.slice(0, FAILURES_KEPT).map(({ line, reason }) => ({ line, reason }));
    const now = clock.now();
    await this.db.updateTable('import_jobs').set({ ...counts(progress), status, error, failures: JSON.stringify(kept), updated_at: now, finished_at: now }).where('id', '=', id).execute();
  }
}

/** Marks `running` jobs (or the one job `id`) last heard from before `cutoff` as interrupted; how many there were. */
async function interruptStale(db: Db, cutoff: number, id?: string): Promise<number> {
  const now = clock.now();
  let stale = db
    .updateTable('import_jobs')
    // The counts stay what the job last wrote: rows up to there are in, the rest are not.
    .set({ status: 'interrupted', error: `The process running this import stopped before it finished. ${RERUN_HINT}`, finished_at: now, updated_at: now })
    .where('status', '=', 'running')
    .where('updated_at', '<', cutoff);
  if (id !== undefined) stale = stale.where('id', '=', id);
  const result = await stale.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** A job as any replica sees it: one whose process stopped beating its heartbeat reads as interrupted. */
export async function requireImportJob(db: Db, id: string): Promise<ImportJob> {
  let row = await db.selectFrom('import_jobs').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new DomainError('IMPORT_JOB_NOT_FOUND', 'Import job not found', 404);
  if (row.status === 'running' && row.updated_at < clock.now() - IMPORT_LEASE_MS) {
    await interruptStale(db, clock.now() - IMPORT_LEASE_MS, id);
    row = (await db.selectFrom('import_jobs').selectAll().where('id', '=', id).executeTakeFirst())!;
  }
  return {
    id: row.id,
    status: row.status,
    progress: { done: row.done, total: row.total, created: row.created, updated: row.updated, skipped: row.skipped, failed: row.failed },
    failures: JSON.parse(row.failures) as ImportJob['failures'],
    error: row.error,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}
