/**
 * What other folders may import from detect/: the model contract and scored windows.
 */
import type { StreamDescriptor, WindowMeasures } from '../media/types.js';

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
}
