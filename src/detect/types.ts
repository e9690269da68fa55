/**
 * What other folders may import from detect/: the model contract, scored windows, and the
 * ScoreSink the detector feeds (verdicts/ implements it).
 */
import type { StreamDescriptor, StreamEndReason, WindowMeasures } from '../media/types.js';

/** models/<name>/card.json: the contract between training and runtime. */
export interface ModelCard {
  name: string;
  version: string;
  /** sha256 (hex) of model.onnx; the runtime refuses a file that does not match. */
  sha256: string;
  file: string; // "model.onnx"
  input: { name: string; sampleRate: number; windowSec: number; shape: [string | number, number] };
  output: { name: string; meaning: 'probability_synthetic' | 'logit_synthetic' };
  /** Optional second output with the penultimate embedding. */
  embedding?: { name: string; dim: number };
  /** A learned logistic head on the embedding (head.json, devox learn): it replaces `output` as the score. */
  head?: { file: string; sha256: string };
  /** Decision thresholds on the probability of "synthetic", calibrated on the dev split. */
  thresholds: { eer: number; suspicious: number; synthetic: number };
  /** The channel band the model serves (detector-set.ts); absent: wideband. */
  band?: 'narrowband' | 'wideband';
  [extra: string]: unknown;
}

/** One scored window, as the verdict engine sees it. */
export interface WindowScore extends WindowMeasures {
  stream: StreamDescriptor;
  seq: number;
  /** Probability that the window is synthetic, 0..1. */
  score: number;
  arrivalMs: number;
  readyMs: number;
  scoredMs: number;
  batchSize: number;
  modelVersion: string;
  /** The window's embedding when the detector was asked for it (features export): a view, valid to keep. */
  embedding?: Float32Array;
}

/**
 * Where the detector's output goes, in data order: media → detector (the WindowSink) →
 * ScoreSink (the verdict pipeline, the WebRTC page's live score...). Calls come in per-stream
 * order: onStreamStart, then onScore / onShed per window, then onStreamDrained once.
 * A sink that throws is logged and does not stop the detector.
 */
export interface ScoreSink {
  /** Media started a stream (before any of its windows; it may have none). */
  onStreamStart?(stream: StreamDescriptor): void;
  /** One scored window, in the stream's window order. A fresh object: the sink may keep it. */
  onScore(s: WindowScore): void;
  /** A window of the stream was dropped without a score (overload, bad window, shutdown...). */
  onShed?(stream: StreamDescriptor, seq: number): void;
  /** After media ended the stream, once its last window has been scored or shed. */
  onStreamDrained?(stream: StreamDescriptor, reason: StreamEndReason): void;
}

/** The models serving now, as the verdict policy reads them (DetectorSet implements it). */
export interface ServingModels {
  /** The primary model's card: its thresholds judge a stream until one of its windows says otherwise. */
  readonly card: Readonly<ModelCard>;
  readonly modelVersion: string;
  /** The card of a model serving now, by version (a score names the version that made it). */
  cardOfVersion(version: string): Readonly<ModelCard> | undefined;
}
