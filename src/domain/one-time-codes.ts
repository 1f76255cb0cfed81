import { randomInt } from 'node:crypto';
import { clock } from '../clock.ts';
import { newId } from '../crypto/ids.ts';
import { hmacHex, safeEqual } from '../crypto/secrets.ts';
import type { Db } from '../store/db.ts';

/** Kinde's one-time codes (sections 010, 013): six digits, valid for two hours, single use. */
export const CODE_LIFETIME_MS = 2 * 60 * 60 * 1000;
export const MAX_CODE_ATTEMPTS = 5;

/** `mfa`: a second-factor code to a person's email or SMS factor (section 052). */
export type CodePurpose = 'sign_in' | 'sign_up' | 'reset_password' | 'mfa';

export type CodeCheck = 'accepted' | 'wrong' | 'expired' | 'too_many_attempts';

/**
 * Codes are stored as an HMAC under a server key: a six-digit code's plain hash would fall to a
 * million guesses offline if the database leaked.
 */
export class OneTimeCodes {
  constructor(
    private readonly db: Db,
    private readonly hmacKey: Buffer,
  ) {}

  private digest(challengeId: string, code: string): string {
    return hmacHex(this.hmacKey, `${challengeId}:${code}`);
  }

  async issue(purpose: CodePurpose, recipient: string): Promise<{ challengeId: string; code: string }> {
    const challengeId = newId.challenge();
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const now = clock.now();
    await this.db
      .insertInto('otp_challenges')
      .values({
        id: challengeId,
        purpose,
        recipient,
        code_hash: this.digest(challengeId, code),
        attempts: 0,
        expires_at: now + CODE_LIFETIME_MS,
        consumed_at: null,
        created_at: now,
      })
      .execute();
    return { challengeId, code };
  }

  /** Counts the attempt first, so parallel guesses cannot exceed the limit. */
  async check(challengeId: string, purpose: CodePurpose, code: string): Promise<CodeCheck> {
    const now = clock.now();
    const counted = await this.db
      .updateTable('otp_challenges')
      .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
      .where('id', '=', challengeId)
      .where('purpose', '=', purpose)
      .where('consumed_at', 'is', null)
      .where('attempts', '<', MAX_CODE_ATTEMPTS)
      .executeTakeFirst();
    const row = await this.db.selectFrom('otp_challenges').selectAll().where('id', '=', challengeId).executeTakeFirst();
    if (!row || row.purpose !== purpose || row.consumed_at !== null) return 'expired';
    if (counted.numUpdatedRows === 0n) return 'too_many_attempts';
    if (row.expires_at <= now) return 'expired';
    if (!safeEqual(row.code_hash, this.digest(challengeId, code.trim()))) {
      return row.attempts >= MAX_CODE_ATTEMPTS ? 'too_many_attempts' : 'wrong';
    }
    const consumed = await this.db
      .updateTable('otp_challenges')
      .set({ consumed_at: now })
      .where('id', '=', challengeId)
      .where('consumed_at', 'is', null)
      .executeTakeFirst();
    return consumed.numUpdatedRows === 1n ? 'accepted' : 'expired';
  }

  async deleteExpired(): Promise<void> {
    await this.db.deleteFrom('otp_challenges').where('expires_at', '<', clock.now()).execute();
  }
}
