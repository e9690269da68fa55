#!/usr/bin/env node
/**
 * devox <command> [args]. Each command lives in src/commands/<command>.ts and
 * exports `run(argv: string[]): Promise<number>` (the exit code).
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  serve: { summary: 'run the server: RTP/WebSocket ingest, detector, events, metrics', load: () => import('./commands/serve.js') },
  send: { summary: 'stream an audio file as real-time RTP (pcmu|pcma|opus|l16)', load: () => import('./commands/send.js') },
  analyze: { summary: 'score an audio file through the live window/decoder/model path', load: () => import('./commands/analyze.js') },
  demo: { summary: 'start the server and stream the sample calls over real RTP; prints the verdicts', load: () => import('./commands/demo.js') },
  feedback: { summary: 'publish analyst feedback on a call (confirmed synthetic / genuine / unsure) to NATS', load: () => import('./commands/feedback.js') },
  'console-hash': { summary: 'hash a console operator password (read from stdin) for console.operators', load: () => import('./commands/console-hash.js') },
  model: { summary: 'model registry on NATS: publish, list, promote, rollback, pull, history, report', load: () => import('./commands/model.js') },
  learn: { summary: 'retrain the classifier head from exported features + feedback; publish a candidate', load: () => import('./commands/learn.js') },
  eval: { summary: 'EER of the model over a manifest.csv (path,label)', load: () => import('./commands/eval.js') },
  enroll: { summary: 'enrol (or erase) a caller\'s voice for speaker verification', load: () => import('./commands/enroll.js') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `usage: devox <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun "devox <command> --help" for a command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`devox: unknown command "${name}"\n${usage()}\n`);
    return 2;
  }
  const mod = await cmd.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`devox: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
