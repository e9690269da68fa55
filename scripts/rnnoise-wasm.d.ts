/** The part of @jitsi/rnnoise-wasm's synchronous Emscripten build that scripts/neural-channel.ts uses (it ships no types). */
declare module '@jitsi/rnnoise-wasm/dist/rnnoise-sync.js' {
  interface RnnoiseModule {
    ready: Promise<unknown>;
    HEAPF32: Float32Array;
    _malloc(bytes: number): number;
    _free(ptr: number): void;
    _rnnoise_create(): number;
    _rnnoise_destroy(state: number): void;
    /** Denoises one 480-sample 48-kHz frame in place (in and out may be the same pointer); returns the VAD probability. */
    _rnnoise_process_frame(state: number, out: number, input: number): number;
  }
  export default function createRNNWasmModuleSync(): RnnoiseModule;
}
