/**
 * The detector's named errors. Each carries a machine-readable `code` and the model
 * directory it concerns, so start-up can print one clear line and tests can match on it.
 */

export type ModelLoadErrorCode =
  /** card.json or the ONNX file is missing / unreadable. */
  | 'missing_file'
  /** card.json is not JSON or fails the ModelCard schema (the field is named). */
  | 'invalid_card'
  /** sha256 of the ONNX file differs from card.sha256. */
  | 'sha256_mismatch'
  /** onnxruntime refused the file (corrupt, unsupported opset...). */
  | 'onnx_load_failed'
  /** The ONNX graph's inputs/outputs disagree with the card (name, type, shape). */
  | 'card_mismatch';

export class ModelLoadError extends Error {
  readonly code: ModelLoadErrorCode;
  readonly modelDir: string;
  /** The card field or graph element concerned, when there is one (e.g. "input.shape"). */
  readonly field: string | undefined;
  /** The message without the "model <dir>: " prefix. */
  readonly detail: string;
  constructor(
    code: ModelLoadErrorCode,
    modelDir: string,
    message: string,
    options?: { cause?: unknown; field?: string },
  ) {
    super(`model ${modelDir}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ModelLoadError';
    this.code = code;
    this.modelDir = modelDir;
    this.field = options?.field;
    this.detail = message;
  }
}

/** A batch inference failed; the windows of that batch are reported, not silently dropped. */
export class InferenceError extends Error {
  readonly modelVersion: string;
  readonly batchSize: number;
  constructor(modelVersion: string, batchSize: number, options?: { cause?: unknown }) {
    super(`inference failed (model ${modelVersion}, batch of ${batchSize})`, options);
    this.name = 'InferenceError';
    this.modelVersion = modelVersion;
    this.batchSize = batchSize;
  }
}

/** A batch ran longer than detect.inferenceTimeoutMs: its worker is abandoned and replaced. */
export class InferenceTimeoutError extends InferenceError {
  readonly timeoutMs: number;
  constructor(modelVersion: string, batchSize: number, timeoutMs: number) {
    super(modelVersion, batchSize);
    this.name = 'InferenceTimeoutError';
    this.message = `inference timed out after ${timeoutMs} ms (model ${modelVersion}, batch of ${batchSize})`;
    this.timeoutMs = timeoutMs;
  }
}

/** The detector was used after close(). */
export class DetectorClosedError extends Error {
  constructor() {
    super('detector is closed');
    this.name = 'DetectorClosedError';
  }
}
