/**
 * tap's `before` hook (package.json "tap".before): stamps the start of this run in
 * .tap/run-started.json, so test/run/run-report.ts tells this run's test files from earlier ones.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const tapDir = resolve(process.cwd(), '.tap');
mkdirSync(tapDir, { recursive: true });
writeFileSync(resolve(tapDir, 'run-started.json'), `${JSON.stringify({ startedMs: Date.now() })}\n`);
