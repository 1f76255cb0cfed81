import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * Password hashing (argon2, and bcrypt for imported hashes) runs on threads of its own ("lanes"), one
 * per core less one kept for the event loop, and never on libuv's shared pool. On that pool (4 threads) a burst of sign-ins would queue the token
 * endpoint's RSA signatures, file reads and DNS behind 19 MiB hashes, and take the event loop's core.
 * Each lane takes the next queued job the moment one ends, so a busy event loop never leaves a lane
 * idle between two hashes (with a semaphore on the main thread, it did: the next verify could only
 * start once the event loop had run the previous one's callback). More lanes than this only slow each
 * other down: their working sets contend for memory bandwidth. Lanes also bound memory: at most
 * `lanes × 19 MiB` is in use however many sign-ins arrive at once. GATEHOUSE_HASHING_THREADS overrides
 * the count, for a container whose CPU quota is smaller than the cores it can see.
 */
export const DEFAULT_HASHING_LANES = Math.max(1, availableParallelism() - 1);

let laneCount = DEFAULT_HASHING_LANES;

type Job =
  | { op: 'argon2-hash'; password: string; options: Argon2Options }
  | { op: 'argon2-verify'; stored: string; password: string }
  | { op: 'bcrypt-verify'; stored: string; password: string };

export interface Argon2Options {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

// CommonJS evaluated inside the worker, so it runs the same under tsx, node or a bundler.
const workerSource = (argon2Path: string, bcryptPath: string) => `
const { parentPort } = require('node:worker_threads');
const argon2 = require(${JSON.stringify(argon2Path)});
const bcrypt = require(${JSON.stringify(bcryptPath)});
const run = {
  'argon2-hash': (job) => argon2.hashSync(job.password, job.options),
  'argon2-verify': (job) => argon2.verifySync(job.stored, job.password),
  'bcrypt-verify': (job) => bcrypt.compareSync(job.password, job.stored),
};
parentPort.on('message', ({ id, job }) => {
  try {
    const value = run[job.op](job);
    parentPort.postMessage({ id, value });
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

/** The thread died with work queued: not an answer about the password (never "wrong"), a failure. */
export class HashingLaneStopped extends Error {
  constructor(reason: string, cause?: unknown) {
    super(`a password-hashing thread stopped: ${reason}`, { cause });
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

class Lane {
  readonly pending = new Map<number, Pending>();
  private readonly worker: Worker;
  private nextId = 0;
  private retired = false;

  constructor(source: string, onExit: (lane: Lane) => void) {
    this.worker = new Worker(source, { eval: true, name: 'password-hashing' });
    this.worker.unref();
    this.worker.on('message', ({ id, value, error }: { id: number; value?: unknown; error?: string }) => {
      const job = this.pending.get(id);
      this.pending.delete(id);
      if (this.pending.size === 0) this.idle();
      if (error === undefined) job?.resolve(value);
      else job?.reject(new Error(`password hashing: ${error}`));
    });
    const fail = (error: Error) => {
      for (const job of this.pending.values()) job.reject(error);
      this.pending.clear();
      onExit(this);
    };
    this.worker.on('error', (error) => fail(new HashingLaneStopped('it threw', error)));
    this.worker.on('exit', (code) => fail(new HashingLaneStopped(`exit code ${code}`)));
  }

  /** Ends now; what was queued is rejected (`HashingLaneStopped`). */
  stop(): Promise<number> {
    return this.worker.terminate();
  }

  /** Out of the rotation: ends once its queue is done. */
  retire(): void {
    this.retired = true;
    if (this.pending.size === 0) this.idle();
  }

  private idle(): void {
    if (this.retired) void this.worker.terminate();
    else this.worker.unref();
  }

  run<T>(job: Job): Promise<T> {
    const id = this.nextId++;
    // Referenced while work is queued, so the process waits for answers it is owed; idle lanes never keep it alive.
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ id, job });
    });
  }
}

let source: string | undefined;
const lanes: Lane[] = [];

/** How many threads hash from now on (start-up sets GATEHOUSE_HASHING_THREADS here). */
export function useHashingLanes(count: number): void {
  laneCount = Math.max(1, Math.floor(count));
  for (const surplus of lanes.splice(laneCount)) surplus.retire();
}

/**
 * Stops every hashing thread at once, for a process that is shutting down (idle threads never keep it
 * alive anyway). Queued work is rejected; the next hash starts fresh threads.
 */
export async function stopHashingLanes(): Promise<void> {
  await Promise.all(lanes.splice(0).map((lane) => lane.stop()));
}

/** The lane with the shortest queue; lanes start on first use and again after a crash. */
function leastBusyLane(): Lane {
  if (source === undefined) {
    const { resolve } = createRequire(import.meta.url);
    source = workerSource(resolve('@node-rs/argon2'), resolve('bcryptjs'));
  }
  while (lanes.length < laneCount) {
    lanes.push(
      new Lane(source, (gone) => {
        const index = lanes.indexOf(gone);
        if (index >= 0) lanes.splice(index, 1);
      }),
    );
  }
  return lanes.reduce((best, lane) => (lane.pending.size < best.pending.size ? lane : best));
}

export function argon2Hash(password: string, options: Argon2Options): Promise<string> {
  return leastBusyLane().run({ op: 'argon2-hash', password, options });
}

/** Rejects when `stored` is not an argon2 hash. */
export function argon2Verify(stored: string, password: string): Promise<boolean> {
  return leastBusyLane().run({ op: 'argon2-verify', stored, password });
}

/**
 * Imported bcrypt hashes (bcryptjs is plain JavaScript: at cost 10 a check is ~50–100 ms of CPU, which
 * on the event loop would stall every other request).
 */
export function bcryptVerify(stored: string, password: string): Promise<boolean> {
  return leastBusyLane().run({ op: 'bcrypt-verify', stored, password });
}
