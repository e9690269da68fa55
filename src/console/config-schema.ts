/**
 * The `console` and `node` sections of the config (validated with the rest in src/config.ts;
 * kept here so config.ts stays one screen per section). Operators carry only scrypt hashes
 * (`devox console-hash` makes one); never a password.
 */
import { z } from 'zod';

export const OPERATOR_ROLES = ['viewer', 'supervisor'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

/** `scrypt$N$r$p$<salt base64>$<key base64>` as accounts.ts hashPassword writes it. */
export const PASSWORD_HASH = /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/;

export const NodeConfigSchema = z
  .object({
    /** This process's name in events (`node`) and in the console; empty: the host name. */
    id: z.string().max(128).regex(/^[^\s]*$/, 'must not contain whitespace'),
  })
  .strict();

export const ConsoleConfigSchema = z
  .object({
    /** Serve the supervisor console at `path`. */
    enabled: z.boolean(),
    path: z.string().regex(/^\/[A-Za-z0-9._~\/-]*[^/]$/, 'must start with / and not end with /'),
    /**
     * Where the console's calls come from: `local` (this process's own events, no NATS needed) or
     * `nats` (every DevoX node of the deployment, read from JetStream `<prefix>.call.>`).
     */
    source: z.enum(['local', 'nats']),
    operators: z
      .array(
        z
          .object({
            name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._@-]+$/, 'letters, digits and . _ @ - only'),
            role: z.enum(OPERATOR_ROLES),
            passwordHash: z.string().regex(PASSWORD_HASH, 'must be a scrypt hash from `devox console-hash`'),
          })
          .strict(),
      )
      .superRefine((ops, ctx) => {
        const seen = new Set<string>();
        ops.forEach((o, i) => {
          if (seen.has(o.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `operator ${o.name} listed twice` });
          seen.add(o.name);
        });
      }),
    /** A session cookie lasts this long after sign-in. */
    sessionTtlSec: z.number().int().min(60).max(7 * 86400),
    /** Mark the session cookie Secure (serve the console behind HTTPS). */
    secureCookie: z.boolean(),
    /** Ended calls stay on screen this long. */
    endedRetentionSec: z.number().int().min(0).max(86400),
    /** Most pushes per second to one browser (updates of one call within a push are coalesced). */
    maxPushPerSec: z.number().min(0.5).max(20),
    /** Window scores per leg kept for the table's sparkline. */
    sparklinePoints: z.number().int().min(8).max(600),
    /** Windows per leg kept for the detail view's timeline (4 per second at the default hop). */
    timelineWindows: z.number().int().min(60).max(20000),
    /** Most calls held (live + ended); the oldest ended ones go first. */
    maxCalls: z.number().int().min(10).max(100000),
    /** Append-only audit file (JSON lines) besides the `audit: true` log lines; empty: log only. */
    auditFile: z.string(),
    /** Listen-in (supervisors hear a live leg through mediasoup; never recorded). */
    listen: z
      .object({
        /** Listen-in sessions at once on this node, all supervisors together (each costs an Opus encoder). */
        maxListeners: z.number().int().min(1).max(100),
        /** A listen-in ends after this long (the supervisor may start another). */
        maxSec: z.number().int().min(10).max(4 * 3600),
      })
      .strict(),
  })
  .strict();

export type ConsoleConfig = z.infer<typeof ConsoleConfigSchema>;
