/**
 * A one-line progress bar on stderr: the overall share of the planned run, the current
 * scenario and phase, and the time in this phase. On a non-TTY stderr it prints one line
 * per phase instead.
 */
export class Progress {
  readonly #tty = !!process.stderr.isTTY;
  readonly #total: number;
  #done = 0;
  #label = '';
  #phaseStart = performance.now();
  #phaseMs = 0;
  #phaseWeight = 0;
  #timer: NodeJS.Timeout | undefined;
  #started = performance.now();
  enabled = true;

  /** `totalWeight`: the sum of the weights of every phase to come (planned seconds). */
  constructor(totalWeight: number) {
    this.#total = Math.max(1, totalWeight);
  }

  /** Starts a phase expected to take about `ms` and worth `weight` of the total. */
  phase(label: string, ms = 0, weight = ms / 1000): void {
    this.#done += this.#phaseWeight;
    this.#phaseWeight = weight;
    this.#label = label;
    this.#phaseStart = performance.now();
    this.#phaseMs = ms;
    if (!this.enabled) return;
    if (this.#tty) {
      this.#timer ??= setInterval(() => this.#draw(), 200);
      this.#timer.unref();
      this.#draw();
    } else {
      process.stderr.write(`[${this.#elapsed()}] ${label}\n`);
    }
  }

  /** Prints a line above the bar. */
  log(line: string): void {
    if (!this.enabled) return;
    if (this.#tty) process.stderr.write('\r\x1b[2K' + line + '\n');
    else process.stderr.write(line + '\n');
    if (this.#tty) this.#draw();
  }

  done(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#tty && this.enabled) process.stderr.write('\r\x1b[2K');
  }

  #elapsed(): string {
    const s = Math.round((performance.now() - this.#started) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }

  #draw(): void {
    const inPhase = performance.now() - this.#phaseStart;
    const frac = this.#phaseMs > 0 ? Math.min(1, inPhase / this.#phaseMs) : 0;
    const share = Math.min(1, (this.#done + this.#phaseWeight * frac) / this.#total);
    const width = 28;
    const full = Math.round(share * width);
    const bar = '█'.repeat(full) + '░'.repeat(width - full);
    const t = this.#phaseMs > 0 ? ` ${(inPhase / 1000).toFixed(0)}/${(this.#phaseMs / 1000).toFixed(0)}s` : ` ${(inPhase / 1000).toFixed(0)}s`;
    const line = `${bar} ${String(Math.round(share * 100)).padStart(3)}% ${this.#elapsed()} ${this.#label}${t}`;
    const cols = process.stderr.columns || 120;
    process.stderr.write('\r\x1b[2K' + line.slice(0, cols - 1));
  }
}
