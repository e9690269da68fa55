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
 * A sample / clock rate outside SUPPORTED_SAMPLE_RATES (sample-rates.ts). A kind of
 * UnsupportedCodecError, so every ingress that refuses an unsupported codec refuses it too.
 */
export class UnsupportedSampleRateError extends UnsupportedCodecError {
  readonly sampleRate: number;
  constructor(encoding: string, sampleRate: number) {
    super(encoding, `${encoding} at ${sampleRate} Hz is not supported (sample rates: 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)`);
    this.name = 'UnsupportedSampleRateError';
    this.sampleRate = sampleRate;
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
