/**
 * Bulk import throughput (issue 14, a benchmark, not a test): `npx tsx bench/user-import.ts`.
 *
 * Imports BENCH_ROWS (20,000) generated users (email, names, one bcrypt hash shared by all so that
 * generating the file costs nothing) into a fresh SQLite file (or PostgreSQL with
 * DATABASE_URL=postgres://…), through the same code as `gatehouse import`, then the same file again
 * (every row skipped). Prints rows/s of both runs and what 1,000,000 rows would take at that rate.
 */
import bcrypt from 'bcryptjs';
import { parseImportFile } from '../src/domain/import/rows.ts';
import { importConcurrency, importUsers } from '../src/domain/import/users.ts';
import { migrateToLatest, openStore } from '../src/store/db.ts';
import { createDatabase, numberFromEnv } from './support.ts';

const ROWS = numberFromEnv('BENCH_ROWS', 20_000);
const hash = bcrypt.hashSync('imported password', 4);
const lines = ['id,email,email_verified,first_name,last_name,hashed_password,hashing_method'];
for (let i = 0; i < ROWS; i++) lines.push(`src-${i},user${i}@example.test,true,First${i},Last${i},${hash},bcrypt`);
const rows = parseImportFile(lines.join('\n'));

const database = await createDatabase();
const store = openStore(database.url);
await migrateToLatest(store.db);

for (const run of ['first import', 'same file again']) {
  const started = performance.now();
  const result = await importUsers(store.db, rows, undefined, { concurrency: importConcurrency(store.dialect) });
  const seconds = (performance.now() - started) / 1000;
  const rate = ROWS / seconds;
  console.log(
    `${database.kind} ${run}: ${ROWS} rows in ${seconds.toFixed(1)} s = ${Math.round(rate)} rows/s (created ${result.created}, updated ${result.updated}, skipped ${result.skipped}, failed ${result.failed}); 1,000,000 rows ≈ ${Math.round(1_000_000 / rate / 60)} min`,
  );
}
await store.close();
await database.drop();
