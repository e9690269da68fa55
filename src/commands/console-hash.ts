/**
 * devox console-hash: reads a password on stdin (one line) and prints the scrypt hash to put in
 * console.operators[].passwordHash. The password never appears on the command line or in config.
 *
 *   printf '%s\n' "$PASSWORD" | devox console-hash
 */
import { createInterface } from 'node:readline';
import { hashPassword } from '../console/accounts.js';

const USAGE = `usage: devox console-hash < password-line

Reads one line (the password, at least 8 characters) from stdin and prints its scrypt hash for
console.operators[].passwordHash (docs/console.md).
`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`devox console-hash: takes no arguments (the password is read from stdin)\n${USAGE}`);
    return 2;
  }
  if (process.stdin.isTTY) process.stderr.write('password: ');
  const rl = createInterface({ input: process.stdin, terminal: false });
  let line: string | undefined;
  for await (const l of rl) {
    line = l;
    break;
  }
  rl.close();
  const password = (line ?? '').replace(/\r$/, '');
  if (password.length < 8) {
    process.stderr.write('devox console-hash: the password must be at least 8 characters\n');
    return 2;
  }
  process.stdout.write((await hashPassword(password)) + '\n');
  return 0;
}
