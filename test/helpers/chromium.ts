/**
 * Headless Debian Chromium driven by playwright-core (no browser download: executablePath).
 * Tests that need it skip with a specific reason when it is not installed.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_BIN = process.env.CHROMIUM_BIN ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

export const CHROMIUM_MISSING = 'chromium not installed (apt-get install chromium, or set CHROMIUM_BIN)';

/** A headless Chromium with a fake microphone (fed from `wav` when given). */
export async function launchChromium(wav?: string): Promise<Browser> {
  if (!CHROMIUM_BIN) throw new Error(CHROMIUM_MISSING);
  return chromium.launch({
    executablePath: CHROMIUM_BIN,
    headless: true,
    args: [
      '--no-sandbox',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      ...(wav ? [`--use-file-for-fake-audio-capture=${wav}`] : []),
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}
