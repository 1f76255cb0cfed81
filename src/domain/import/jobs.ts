import type { Logger } from 'pino';
import { clock } from '../../clock.ts';
import { newId } from '../../crypto/ids.ts';
import { afterCommit, type Db } from '../../store/db.ts';
import type { ImportJobsTable } from '../../store/schema.ts';
import { DomainError } from '../errors.ts';
import type { ImportRow } from './rows.ts';
import { type ImportProgress, importUsers } from './users.ts';

/** Progress is written at most this often: a million rows must not mean a million extra writes. */
const PROGRESS_EVERY_MS = 250;
const FAILURES_KEPT = 1000;

export interface ImportJob {
  id: string;
  status: ImportJobsTable['status'];
  progress: ImportProgress;
  failures: Array<{ line: number; reason: string }>;
  error: string | null;
  createdAt: number;
  finishedAt: number | null;
}

/**
 * Starts importing `rows` once the transaction that records the job has committed (so progress is
 * readable from any replica), in this process and in the background; returns the job's id. A
 * process that stops mid-import leaves the job `running`: import the same file again, it is idempotent.
 */
export async function startImportJob(db: Db, rows: readonly ImportRow[], logger: Logger, concurrency = 1): Promise<string> {
  const id = newId.importJob();
  await db
    .insertInto('import_jobs')
    .values({ id, status: 'running', total: rows.length, done: 0, created: 0, updated: 0, skipped: 0, failed: 0, failures: '[]', error: null, created_at: clock.now(), finished_at: null })
    .execute();
  afterCommit(db, () => {
    void runImportJob(db, id, rows, concurrency).catch((err: unknown) => logger.error({ err, job: id }, 'import job failed'));
  });
  return id;
}

async function runImportJob(db: Db, id: string, rows: readonly ImportRow[], concurrency: number): Promise<void> {
  let writtenAt = 0;
  let writing: Promise<unknown> = Promise.resolve();
  const counts = (progress: ImportProgress) => ({ done: progress.done, created: progress.created, updated: progress.updated, skipped: progress.skipped, failed: progress.failed });
  try {
    const result = await importUsers(db, rows, (progress) => {
      if (clock.now() - writtenAt < PROGRESS_EVERY_MS) return;
      writtenAt = clock.now();
      writing = writing.then(() => db.updateTable('import_jobs').set(counts(progress)).where('id', '=', id).execute());
    }, { concurrency });
    await writing;
    const failures = result.failures.slice(0, FAILURES_KEPT).map(({ line, reason }) => ({ line, reason }));
    await db.updateTable('import_jobs').set({ ...counts(result), status: 'finished', failures: JSON.stringify(failures), finished_at: clock.now() }).where('id', '=', id).execute();
  } catch (error) {
    await writing.catch(() => undefined);
    await db.updateTable('import_jobs').set({ status: 'failed', error: error instanceof Error ? error.message : String(error), finished_at: clock.now() }).where('id', '=', id).execute();
    throw error;
  }
}

export async function requireImportJob(db: Db, id: string): Promise<ImportJob> {
  const row = await db.selectFrom('import_jobs').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new DomainError('IMPORT_JOB_NOT_FOUND', 'Import job not found', 404);
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
