/**
 * The supervisor console in tests: operator accounts (real scrypt hashes), signing in through
 * the page in headless Chromium, screenshots under .tap/console/ (gitignored test artefacts).
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { projectRoot } from '../../src/config.js';
import { hashPassword } from '../../src/console/accounts.js';

export const SCREENSHOT_DIR = resolve(projectRoot, '.tap', 'console');

export const SUPERVISOR = { name: 'sup.ana', password: 'correct horse battery', role: 'supervisor' as const };
export const VIEWER = { name: 'view.ben', password: 'viewer password 42', role: 'viewer' as const };

/** console.operators for SUPERVISOR and VIEWER. */
export async function testOperators(): Promise<Array<{ name: string; role: 'viewer' | 'supervisor'; passwordHash: string }>> {
  return Promise.all([SUPERVISOR, VIEWER].map(async (o) => ({ name: o.name, role: o.role, passwordHash: await hashPassword(o.password) })));
}

/** Fills the sign-in form; waits for the app (or, when `expectRefusal`, for the error text). */
export async function signIn(page: Page, who: { name: string; password: string }, expectRefusal = false): Promise<void> {
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 30_000 });
  await page.fill('#login-name', who.name);
  await page.fill('#login-password', who.password);
  await page.click('#login-form button[type=submit]');
  if (expectRefusal) await page.waitForFunction(() => document.getElementById('login-error')!.textContent !== '', undefined, { timeout: 30_000 });
  else await page.waitForSelector('#app', { state: 'visible', timeout: 30_000 });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = resolve(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** The rows of the calls table as the page shows them. */
export function tableRows(page: Page): Promise<Array<{ callId: string; label: string; node: string; legs: Array<{ label: string; windows: number }> }>> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('#rows tr') as NodeListOf<HTMLTableRowElement>).map((tr) => ({
      callId: tr.dataset.callId ?? '',
      label: tr.querySelector('.c-label .badge')?.textContent?.replace(' ', '_') ?? '',
      node: tr.querySelector('.c-node')?.textContent ?? '',
      legs: Array.from(tr.querySelectorAll('.leg') as NodeListOf<HTMLElement>).map((l) => ({
        label: l.querySelector('.badge')?.textContent?.replace(' ', '_') ?? '',
        windows: Number(l.dataset.windows ?? 0),
      })),
    })),
  );
}
