import { z } from 'zod';

/**
 * Pieces of the success bodies the management routes declare (route.ts), in Kinde's shapes
 * (docs/management-api-shapes.md). They describe the document; answers are checked against them only under `node --test` (route.ts).
 */

/** Kinde's `{ code, message }`, alone or around what a route answers. */
export const okResponse = z.object({ code: z.string(), message: z.string() });

export const okWith = <Shape extends z.ZodRawShape>(shape: Shape) => okResponse.extend(shape);

/** Absent on the last page (contract: "Pagination"). */
export const nextToken = z.string().optional();

/** An ISO 8601 date-time, as every `*_on` field is sent. */
export const dateTime = z.string().meta({ format: 'date-time' });

/** Kinde's error body on the management API (kinde-error.ts). */
export const kindeErrorResponse = z.object({ errors: z.array(z.object({ code: z.string(), message: z.string() })).min(1) });
