// `npm run build`: compiles src/ to dist/ ahead of time, so a start runs plain JavaScript instead of
// transpiling every module at run time (tsx). tsc only transpiles here (`noCheck` in
// tsconfig.build.json): `npm run typecheck` and `npm test` type-check, and a type error must not stop
// a developer's `npm start` any more than it did under tsx. Files under src/ that are not TypeScript
// (src/domain/data/common-passwords.bin) are copied to the same place under dist/, so code that reads
// them relative to itself (`new URL('./data/…', import.meta.url)`) finds them from either tree.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = join(REPO, 'src');
/** Inputs whose change makes a build stale, besides everything under src/. */
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json'].map((file) => join(REPO, file));
/** Written last: a build that was interrupted has none, so it counts as stale. */
const STAMP = '.build-complete';

export const DIST = join(REPO, 'dist');

function* filesUnder(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(path);
    else yield path;
  }
}

/** A directory's mtime changes when a file in it is added, renamed or deleted. */
function* directoriesUnder(dir) {
  yield dir;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) yield* directoriesUnder(join(dir, entry.name));
  }
}

const isTypeScript = (file) => /\.(ts|tsx)$/.test(file);

/** True when `outDir` is missing, unfinished, or older than any source file or build setting. */
export function isBuildStale(outDir = DIST) {
  const stamp = join(outDir, STAMP);
  if (!existsSync(stamp)) return true;
  const builtAt = statSync(stamp).mtimeMs;
  for (const file of [...CONFIG_FILES, ...directoriesUnder(SOURCES), ...filesUnder(SOURCES)]) {
    if (statSync(file).mtimeMs > builtAt) return true;
  }
  return false;
}

function compile(outDir) {
  let tsc;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    throw new Error('building dist/ needs the dev dependencies (typescript): run `npm ci` (not `--omit=dev`) first');
  }
  const result = spawnSync(process.execPath, [tsc, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', outDir], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`tsc failed (exit ${result.status ?? result.signal})`);
}

function copyDataFiles(outDir) {
  for (const file of filesUnder(SOURCES)) {
    if (isTypeScript(file)) continue;
    const target = join(outDir, relative(SOURCES, file));
    mkdirSync(dirname(target), { recursive: true });
    cpSync(file, target);
  }
}

/**
 * Builds into a sibling directory of its own and swaps it in whole, so a server already running from
 * `outDir` never loads a module from a half-written tree, two builds at once do not write into one
 * directory, and files of deleted sources do not linger.
 */
export function build(outDir = DIST) {
  const next = `${outDir}.next-${process.pid}`;
  try {
    compile(next);
    copyDataFiles(next);
  } catch (error) {
    rmSync(next, { recursive: true, force: true });
    throw error;
  }
  writeFileSync(join(next, STAMP), `${new Date().toISOString()}\n`);
  rmSync(outDir, { recursive: true, force: true });
  renameSync(next, outDir);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outDir = process.argv[2] ? resolve(process.argv[2]) : DIST;
  try {
    build(outDir);
    console.log(`built ${relative(process.cwd(), outDir) || outDir}`);
  } catch (error) {
    console.error(`build: ${error.message}`);
    process.exit(1);
  }
}
