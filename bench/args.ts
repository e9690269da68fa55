/**
 * Command-line options of the bench scripts: `--help` / `-h` prints the script's usage and exits
 * 0; an unknown or malformed option prints the reason and the usage on stderr and exits 2 (never
 * a stack trace).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Exits 0 after printing `usage` when the arguments ask for help. */
export function exitOnHelp(usage: string, args: readonly string[] = process.argv.slice(2)): void {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
}

/** The parsed option values (strict: no positionals, no unknown options). */
export function benchArgs<const O extends Options>(usage: string, options: O, args: string[] = process.argv.slice(2)) {
  exitOnHelp(usage, args);
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage.trim()}\n`);
    process.exit(2);
  }
}
