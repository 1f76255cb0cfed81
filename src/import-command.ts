import { readFileSync, writeFileSync } from 'node:fs';
import { loadConfig } from './config.ts';
import { parseImportFile } from './domain/import/rows.ts';
import { type ImportProgress, importConcurrency, importUsers } from './domain/import/users.ts';
import { migrateToLatest, openStore } from './store/db.ts';

const PROGRESS_EVERY_MS = 500;

function progressLine(progress: ImportProgress, startedAt: number): string {
  const seconds = (Date.now() - startedAt) / 1000;
  const rate = seconds > 0 ? progress.done / seconds : 0;
  const eta = rate > 0 ? Math.ceil((progress.total - progress.done) / rate) : 0;
  return `${progress.done}/${progress.total} rows · ${Math.round(rate)} rows/s · ETA ${eta}s · created ${progress.created}, updated ${progress.updated}, skipped ${progress.skipped}, failed ${progress.failed}`;
}

/**
 * `gatehouse import <file> [--failed-rows <path>]`: CSV or JSON lines in Kinde's import columns.
 * Progress goes to stderr (rows/s, ETA), the summary to stdout; failed rows, with their line and
 * reason, to the terminal and (as JSON lines) to `--failed-rows`. Exit code 1 when any row failed.
 */
export async function importCommand(args: string[]): Promise<void> {
  const [file] = args.filter((arg, index) => !arg.startsWith('--') && args[index - 1] !== '--failed-rows');
  const failedRowsFlag = args.indexOf('--failed-rows');
  const failedRowsPath = failedRowsFlag >= 0 ? args[failedRowsFlag + 1] : undefined;
  if (!file || (failedRowsFlag >= 0 && !failedRowsPath)) throw new Error('usage: gatehouse import <file.csv|file.jsonl> [--failed-rows <path>]');
  const rows = parseImportFile(readFileSync(file, 'utf8'));
  const config = loadConfig();
  const store = openStore(config.databaseUrl);
  try {
    await migrateToLatest(store.db);
    const startedAt = Date.now();
    let shownAt = 0;
    const interactive = process.stderr.isTTY;
    const result = await importUsers(
      store.db,
      rows,
      (progress) => {
        if (Date.now() - shownAt < PROGRESS_EVERY_MS && progress.done < progress.total) return;
        shownAt = Date.now();
        process.stderr.write(interactive ? `\r${progressLine(progress, startedAt)}\u001b[K` : `${progressLine(progress, startedAt)}\n`);
      },
      { concurrency: importConcurrency(store.dialect) },
    );
    if (interactive) process.stderr.write('\n');
    for (const failure of result.failures) console.error(`line ${failure.line}: ${failure.reason}`);
    if (failedRowsPath) writeFileSync(failedRowsPath, result.failures.map((failure) => JSON.stringify(failure)).join('\n') + (result.failures.length ? '\n' : ''));
    console.log(`imported ${result.total} rows: ${result.created} created, ${result.updated} updated, ${result.skipped} skipped, ${result.failed} failed`);
    if (result.failed > 0) process.exitCode = 1;
  } finally {
    await store.close();
  }
}
