/**
 * The `registry` and `features` sections of the config (src/config.ts validates the whole):
 * the model registry on JetStream, hot swap, shadow and canary; the features export.
 */
import { z } from 'zod';

export const RegistryConfigSchema = z
  .object({
    /** With nats.servers set: watch the registry's serving keys and hot-swap (false: the on-disk models only). */
    watch: z.boolean(),
    /** JetStream Object Store bucket holding model versions (<name>/<version>/<file>). */
    objectBucket: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only'),
    /** JetStream Key-Value bucket: serving.<channel> = which version serves narrowband / wideband. */
    kvBucket: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only'),
    /** Where pulled versions are kept (<cacheDir>/<name>/<version>/); empty: <tmpdir>/devox-model-cache. */
    cacheDir: z.string(),
    /** Backstop poll of the serving keys (a key change is also noticed at once by subscription). */
    pollSec: z.number().min(0.2).max(3600),
    /**
     * A candidate NAME@VERSION scoring a sampled share of windows next to the serving model (never judging): a
     * start-up default for the band of its card, until `devox model shadow` writes that channel's registry key.
     */
    shadow: z.object({ version: z.string(), share: z.number().min(0).max(1) }).strict(),
    /** A candidate NAME@VERSION judging a share of new streams of its band: a start-up default, like shadow (`devox model canary`). */
    canary: z.object({ version: z.string(), share: z.number().min(0).max(1) }).strict(),
  })
  .strict();

export const FeaturesConfigSchema = z
  .object({
    /** Publish each speech window's embedding (never samples) to JetStream. */
    export: z.boolean(),
    /** Its own stream, with its own retention. */
    stream: z.string().min(1),
    /** Subjects `<subjectPrefix>.<callToken>`; empty: `<nats.subjectPrefix>-features` (a stream may not overlap the events stream's `<prefix>.>`). */
    subjectPrefix: z.string(),
    maxAgeSec: z.number().int().min(60),
    maxBytes: z.number().int().min(1024 * 1024),
    /** Windows with less speech than this are not exported. */
    minSpeechRatio: z.number().min(0).max(1),
  })
  .strict();
