/**
 * Microsoft's telemetry in onnxruntime, off.
 *
 * The onnxruntime 1.2x native library collects telemetry on Linux by default: at its first session
 * it writes a device id and an SQLite event store under ~/.cache/Microsoft/DeveloperTools/.onnxruntime/
 * and a mat-debug-<pid>.log in TMPDIR, and queues uploads to mobile.events.data.microsoft.com. A call
 * analyser writes nothing it was not asked to and phones nowhere (docs/security.md;
 * test/security/no-audio-at-rest.test.ts checks). The library reads ORT_DISABLE_TELEMETRY from the
 * process environment when it creates its environment (the first session). Only the main thread can
 * change that environment (process.env in a worker thread is the worker's own copy), so this runs
 * on the main thread before any inference worker starts. An operator's own ORT_DISABLE_TELEMETRY wins.
 */
export function disableOrtTelemetry(): void {
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
}
