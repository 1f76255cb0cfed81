import type Router from '@koa/router';
import { DomainError } from '../domain/errors.ts';
import { type ImportJob, requireImportJob } from '../domain/import/jobs.ts';
import { parseImportFile } from '../domain/import/rows.ts';
import { importConcurrency } from '../domain/import/users.ts';
import { readBodyWithin } from '../http/bodies.ts';
import type { Services } from '../services.ts';
import { OK } from './input.ts';

/** What fits one request; bigger files go through `gatehouse import`, which has no such limit. */
const IMPORT_BODY_LIMIT = 1024 * 1024;
const IMPORT_TYPES = ['text/csv', 'application/x-ndjson', 'application/jsonl', 'application/json', 'text/plain'];

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

function jobJson(job: ImportJob) {
  return { id: job.id, status: job.status, ...job.progress, failures: job.failures, error: job.error, created_on: iso(job.createdAt), finished_on: iso(job.finishedAt) };
}

/** Gatehouse extension (for the admin console): bulk import as a job whose progress any replica can tell. */
export function userImportRoutes(router: Router, services: Services): void {
  const { db, importJobs } = services;

  router.post('/users/import', async (ctx) => {
    if (!ctx.is(IMPORT_TYPES)) throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'Send the file as text/csv or application/x-ndjson (JSON lines)', 415);
    const body = await readBodyWithin(ctx, IMPORT_BODY_LIMIT);
    if (body === undefined) throw new DomainError('PAYLOAD_TOO_LARGE', `Import files over ${IMPORT_BODY_LIMIT} bytes go through \`gatehouse import\``, 413);
    const rows = parseImportFile(body.toString('utf8'));
    const id = await importJobs.start(db, rows, importConcurrency(services.dialect));
    ctx.status = 202;
    ctx.body = { ...OK, job: jobJson(await requireImportJob(db, id)) };
  });

  router.get('/users/import/:job_id', async (ctx) => {
    ctx.body = { ...OK, job: jobJson(await requireImportJob(db, ctx.params.job_id!)) };
  });
}
