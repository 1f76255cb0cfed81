/**
 * The one source of "now" for domain code, so that tests can move time (expiry, lockouts) without
 * sleeping. Production never sets an offset.
 */
let offsetMs = 0;

export const clock = {
  now(): number {
    return Date.now() + offsetMs;
  },
  nowSeconds(): number {
    return Math.floor(clock.now() / 1000);
  },
  /** Test-only: move this process's clock forward. */
  advance(ms: number): void {
    offsetMs += ms;
  },
  /** Test-only: back to real time. */
  reset(): void {
    offsetMs = 0;
  },
};

/** A moment as people read it on a page: `HH:MM`, in UTC (pages say "UTC" after it). */
export function utcClockTime(at: number): string {
  return new Date(at).toISOString().slice(11, 16);
}
