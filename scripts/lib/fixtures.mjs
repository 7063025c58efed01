#!/usr/bin/env node
// Where the golden fixture checkpoint is, for the tests and the scripts alike (run directly, it
// prints the folder, so shell scripts ask it too). Default: ../shared/fixtures/tiny-jina-v3 beside
// the repo; JV3_FIXTURES may name the fixtures folder (holding tiny-jina-v3/) or the checkpoint
// folder itself (the one with expected.json).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The fixture checkpoint folder (whether or not it exists: see requireFixtureDir). */
export const fixtureDir = (() => {
  const root = process.env.JV3_FIXTURES
    ? path.resolve(process.env.JV3_FIXTURES)
    : path.resolve(repoRoot, '..', 'shared', 'fixtures');
  return fs.existsSync(path.join(root, 'expected.json')) ? root : path.join(root, 'tiny-jina-v3');
})();

/** The fixture checkpoint folder; throws with what to do when it is missing. */
export function requireFixtureDir() {
  if (!fs.existsSync(path.join(fixtureDir, 'expected.json'))) {
    throw new Error(`fixtures not found at ${fixtureDir} (set JV3_FIXTURES)`);
  }
  return fixtureDir;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    console.log(requireFixtureDir());
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
