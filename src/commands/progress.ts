/**
 * A progress line on stderr for long CLI runs (`devox eval`, `devox send`): drawn only when
 * stderr is a terminal, so pipes, files and tests get clean output.
 */
function fmtDuration(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** The progress line: bar (when `width` leaves room), units done/total, elapsed, ETA. */
export function formatProgress(done: number, total: number, elapsedSec: number, width = 80, label = 'eval', unit = 'files'): string {
  const eta = done > 0 ? fmtDuration((elapsedSec / done) * (total - done)) : '--:--';
  const text = `${done}/${total} ${unit}  elapsed ${fmtDuration(elapsedSec)}  ETA ${eta}`;
  const barWidth = Math.min(30, width - 1 - text.length - label.length - 5);
  if (barWidth < 5) return text.slice(0, Math.max(0, width - 1));
  const fill = total > 0 ? Math.round((Math.min(done, total) / total) * barWidth) : 0;
  return `${label} [${'#'.repeat(fill)}${'-'.repeat(barWidth - fill)}] ${text}`;
}

/**
 * Progress on stderr, rewritten in place with \r, only when stderr is a terminal (nothing at all
 * on a pipe or file: tests and scripts see clean output). Refreshed per file and every second.
 */
export class Progress {
  readonly #out: NodeJS.WriteStream;
  readonly #total: number;
  readonly #label: string;
  readonly #unit: string;
  readonly #started = performance.now();
  readonly #timer: NodeJS.Timeout;
  #done = 0;

  private constructor(out: NodeJS.WriteStream, total: number, label: string, unit: string) {
    this.#out = out;
    this.#total = total;
    this.#label = label;
    this.#unit = unit;
    this.#timer = setInterval(() => this.#render(), 1000);
    this.#timer.unref();
    this.#render();
  }

  static start(total: number, out: NodeJS.WriteStream = process.stderr, label = 'eval', unit = 'files'): Progress | undefined {
    return out.isTTY ? new Progress(out, total, label, unit) : undefined;
  }

  tick(): void {
    this.#done++;
    this.#render();
  }

  /** Sets the count done (for progress that is not one unit at a time); drawn by the 1-s refresh. */
  set(done: number): void {
    this.#done = done;
  }

  /** Writes something else to the terminal without tearing the progress line. */
  around(write: () => void): void {
    this.#clear();
    write();
    this.#render();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#clear();
  }

  #render(): void {
    const line = formatProgress(this.#done, this.#total, (performance.now() - this.#started) / 1000, this.#out.columns || 80, this.#label, this.#unit);
    this.#out.write(`\r${line}\x1b[K`);
  }

  #clear(): void {
    this.#out.write('\r\x1b[K');
  }
}
