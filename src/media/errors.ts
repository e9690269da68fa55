/**
 * Named media errors. Each carries a machine-readable `code` and, where it wraps
 * another failure, the original as `cause`.
 */

export class MediaError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MediaError';
    this.code = code;
  }
}

/** A payload format or codec that media cannot decode/encode. */
export class UnsupportedCodecError extends MediaError {
  readonly encoding: string;
  constructor(encoding: string, message?: string, options?: { cause?: unknown }) {
    super('unsupported_codec', message ?? `unsupported codec: ${encoding}`, options);
    this.name = 'UnsupportedCodecError';
    this.encoding = encoding;
  }
}

/**
 * A sample / clock rate the codec does not take: `supported` lists the ones it does
 * (SUPPORTED_SAMPLE_RATES in sample-rates.ts for L16, 8000 for G.711, 48000 for Opus; passed
 * in, so this file imports nothing). A kind of UnsupportedCodecError, so every ingress that
 * refuses an unsupported codec refuses it too.
 */
export class UnsupportedSampleRateError extends UnsupportedCodecError {
  readonly sampleRate: number;
  readonly supported: readonly number[];
  constructor(encoding: string, sampleRate: number, supported: readonly number[]) {
    super(encoding, `${encoding} at ${sampleRate} Hz is not supported (sample rates: ${supported.join(', ')})`);
    this.name = 'UnsupportedSampleRateError';
    this.sampleRate = sampleRate;
    this.supported = supported;
  }
}

/** An audio file that cannot be read or decoded. */
export class AudioFileError extends MediaError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('audio_file', message, options);
    this.name = 'AudioFileError';
    this.path = path;
  }
}

/** No UDP port pair left in media.rtpPortMin..rtpPortMax, or binding failed. */
export class PortAllocationError extends MediaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('port_allocation', message, options);
    this.name = 'PortAllocationError';
  }
}

/** A stream id allocated twice, or an operation on a closed MediaSessions. */
export class SessionStateError extends MediaError {
  readonly streamId: string;
  constructor(streamId: string, message: string) {
    super('session_state', message);
    this.name = 'SessionStateError';
    this.streamId = streamId;
  }
}

/** Over media.maxStreams (StreamCapacity.take): every ingress refuses the stream with its own "try later". */
export class StreamCapacityError extends MediaError {
  readonly limit: number;
  constructor(limit: number) {
    super('stream_capacity', `at the limit of ${limit} live streams (media.maxStreams)`);
    this.name = 'StreamCapacityError';
    this.limit = limit;
  }
}

/** Media time of a framed stream ran ahead of wall-clock time by more than the slack; the transport closes with its own code. */
export class PacingError extends MediaError {
  readonly aheadMs: number;
  readonly slackMs: number;
  constructor(aheadMs: number, slackMs: number) {
    super('faster_than_realtime', `media time ${Math.round(aheadMs)} ms ahead of real time (slack ${slackMs} ms)`);
    this.name = 'PacingError';
    this.aheadMs = aheadMs;
    this.slackMs = slackMs;
  }
}

/** libopus error codes (opus_defines.h). */
const OPUS_ERRORS: Record<number, string> = {
  [-1]: 'bad argument', [-2]: 'buffer too small', [-3]: 'internal error', [-4]: 'invalid packet',
  [-5]: 'unimplemented', [-6]: 'invalid state', [-7]: 'memory allocation failed',
};

/** libopus refused a packet or a call (e.g. an invalid packet). */
export class OpusCodecError extends MediaError {
  readonly opusCode: number;
  constructor(op: string, opusCode: number) {
    super('opus', `opus ${op} failed: ${OPUS_ERRORS[opusCode] ?? opusCode}`);
    this.name = 'OpusCodecError';
    this.opusCode = opusCode;
  }
}
