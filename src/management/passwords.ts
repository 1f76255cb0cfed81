import type Router from '@koa/router';
import { z } from 'zod';
import { DomainError } from '../domain/errors.ts';
import { hashPassword, IMPORTABLE_METHODS, importPasswordHash, passwordProblem, storePasswordHash } from '../domain/passwords.ts';
import { findUser, requireUser } from '../domain/users.ts';
import type { Services } from '../services.ts';
import { OK } from './input.ts';
import { okResponse } from './responses.ts';
import { route } from './route.ts';

/** Kinde accepts these two as well; Gatehouse cannot verify them, so an import would lock the user out. */
const UNSUPPORTED_METHODS: unknown[] = ['crypt', 'wordpress'];
const methodError = (issue: { input?: unknown }) =>
  UNSUPPORTED_METHODS.includes(issue.input) ? `${String(issue.input)} hashes are not supported` : `must be one of ${IMPORTABLE_METHODS.join(', ')}`;

/**
 * Kinde's `set_user_password_request` (`hashed_password` + how it was hashed), or the Gatehouse
 * extension `password`: a plain-text password that Gatehouse hashes itself.
 */
const passwordBody = z
  .object({
    password: z.string().optional(),
    hashed_password: z.string().min(1).max(1024).optional(),
    hashing_method: z.enum(IMPORTABLE_METHODS, { error: methodError }).default('bcrypt'),
    salt: z.string().min(1).max(1024).optional(),
    salt_position: z.enum(['prefix', 'suffix']).optional(),
    // Each sign-in attempt derives the key again until the hash is upgraded: bound the cost.
    iterations: z.number().int().min(1).max(5_000_000).optional(),
    variant: z.string().min(1).max(64).optional(),
    is_temporary_password: z.boolean().optional(),
  })
  .refine((body) => (body.password === undefined) !== (body.hashed_password === undefined), 'give exactly one of password and hashed_password')
  .refine(
    (body) => body.password === undefined || [body.salt, body.salt_position, body.iterations, body.variant].every((v) => v === undefined),
    'salt, salt_position, iterations and variant describe a hashed_password; a plain password takes none',
  );

export function passwordRoutes(router: Router, services: Services): void {
  const { db } = services;

  route(router, { method: 'PUT', path: '/users/:user_id/password', scope: 'update:users', summary: "Set a user's password", body: passwordBody, response: okResponse }, async ({ params, body }) => {
    // Section 012's rules hold for a password an administrator sets, temporary or not.
    const problem = body.password === undefined ? undefined : passwordProblem(body.password);
    if (problem) throw new DomainError('INVALID_PASSWORD', `password: ${problem}`, 400);
    // Hashed before the first query begins this write's transaction (store/db.ts, inUnitOfWork).
    const argon2idHash = body.password === undefined ? undefined : await hashPassword(body.password);
    const userId = (await requireUser(db, params.user_id)).id;
    const temporary = body.is_temporary_password ?? false;
    try {
      if (argon2idHash !== undefined) {
        await storePasswordHash(db, userId, argon2idHash, { temporary });
      } else {
        const imported = {
          method: body.hashing_method,
          hash: body.hashed_password!,
          salt: body.salt,
          saltPosition: body.salt_position,
          iterations: body.iterations,
          variant: body.variant,
        };
        await importPasswordHash(db, userId, imported, { temporary });
      }
    } catch (error) {
      // The user was deleted while the password was being hashed: the foreign key refused the row.
      if (!(error instanceof DomainError) && !(await findUser(db, userId))) throw new DomainError('USER_INVALID', 'User not found', 404);
      throw error;
    }
    return OK;
  });
}
