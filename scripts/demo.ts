/** npm run demo — see src/commands/demo.ts. */
import { run } from '../src/commands/demo.js';

process.exitCode = await run(process.argv.slice(2));
