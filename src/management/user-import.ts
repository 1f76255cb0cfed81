import type Router from '@koa/router';
import { z } from 'zod';
import { DomainError } from '../domain/errors.ts';
import { type ImportJob, requireImportJob } from '../domain/import/jobs.ts';
import { parseImportFile } from '../domain/import/rows.ts';
import { importConcurrency } from '../domain/import/users.ts';
import { readBodyWithin } from '../http/bodies.ts';
import type { Services } from '../services.ts';
import { OK } from './input.ts';
import { dateTime, okWith } from './responses.ts';
import { route } from './route.ts';

/** What fits one request; bigger files go through `gatehouse import`, which has no such limit. */
const IMPORT_BODY_LIMIT = 1024 * 1024;
const IMPORT_TYPES = ['text/csv', 'application/x-ndjson', 'application/jsonl', 'application/json', 'text/plain'];

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

const count = z.number().int();
const jobSchema = z.object({
  id: z.string(),
  status: z.enum(['running', 'finished', 'failed', 'interrupted']),
  done: count,
  total: count,
  created: count,
  updated: count,
  skipped: count,
  failed: count,
  failures: z.array(z.object({ line: count, reason: z.string() })),
  error: z.string().nullable(),
  created_on: dateTime.nullable(),
  finished_on: dateTime.nullable(),
});
const jobResponse = okWith({ job: jobSchema });

function jobJson(job: ImportJob): z.input<typeof jobSchema> {
  return { id: job.id, status: job.status, ...job.progress, failures: job.failures, error: job.error, created_on: iso(job.createdAt), finished_on: iso(job.finishedAt) };
}

/** Gatehouse extension (for the admin console): bulk import as a job whose progress any replica can tell. */
export function userImportRoutes(router: Router, services: Services): void {
  const { db, importJobs } = services;

  route(
    router,
    {
      method: 'POST',
      path: '/users/import',
      scope: 'create:users',
      summary: 'Import users from a file (CSV or JSON lines), as a job',
      upload: IMPORT_TYPES,
      status: 202,
      response: jobResponse,
    },
    async (_input, ctx) => {
      if (!ctx.is(IMPORT_TYPES)) throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'Send the file as text/csv or application/x-ndjson (JSON lines)', 415);
      const body = await readBodyWithin(ctx, IMPORT_BODY_LIMIT);
      if (body === undefined) throw new DomainError('PAYLOAD_TOO_LARGE', `Import files over ${IMPORT_BODY_LIMIT} bytes go through \`gatehouse import\``, 413);
      const rows = parseImportFile(body.toString('utf8'));
      const id = await importJobs.start(db, rows, importConcurrency(services.dialect));
      return { ...OK, job: jobJson(await requireImportJob(db, id)) };
    },
  );

  route(router, { method: 'GET', path: '/users/import/:job_id', scope: 'read:users', summary: 'Get an import job', response: jobResponse }, async ({ params }) => {
    return { ...OK, job: jobJson(await requireImportJob(db, params.job_id)) };
  });
}
