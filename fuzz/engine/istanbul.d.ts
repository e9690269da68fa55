// The part of istanbul-lib-instrument 6 the fuzzer uses (the package ships no types).
declare module 'istanbul-lib-instrument' {
  export interface InstrumenterOptions {
    esModules?: boolean;
    compact?: boolean;
    produceSourceMap?: boolean;
    coverageVariable?: string;
    autoWrap?: boolean;
  }
  export interface Instrumenter {
    instrumentSync(code: string, filename: string): string;
  }
  export function createInstrumenter(opts?: InstrumenterOptions): Instrumenter;
}
