/**
 * The channel band a stream arrives in and a model serves. A G.711 call carries nothing above
 * 4 kHz, so a narrowband model (front-end reading the telephone band, trained through the
 * telephone channel) serves it; Opus / 16 kHz streams go to a wideband model (detector-set.ts).
 */
import type { ModelCard } from './types.js';

export type Band = 'narrowband' | 'wideband';

/** Streams that arrive at 8 kHz or less (PCMU, PCMA, 8 kHz L16) are narrowband; the rest wideband. */
export function bandOf(inputRate: number | undefined): Band {
  return inputRate !== undefined && inputRate <= 8000 ? 'narrowband' : 'wideband';
}

/** The band a card declares it serves (card.band); cards without one are wideband models. */
export function cardBand(card: Readonly<Pick<ModelCard, 'band'>>): Band {
  return card.band === 'narrowband' ? 'narrowband' : 'wideband';
}
