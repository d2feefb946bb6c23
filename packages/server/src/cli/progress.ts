/** A progress line on stderr: redrawn in place on a TTY, every 5 % (or 1000 items) otherwise. */
export class Progress {
  readonly #total: number;
  readonly #tty: boolean;
  readonly #out: NodeJS.WriteStream;
  #done = 0;
  #lastPct = -1;
  #started = Date.now();

  constructor(total: number, out: NodeJS.WriteStream = process.stderr) {
    this.#total = total;
    this.#out = out;
    this.#tty = out.isTTY;
  }

  tick(counts: Record<string, number>): void {
    this.#done++;
    const pct = this.#total === 0 ? 100 : Math.floor((this.#done * 100) / this.#total);
    const rate = this.#done / Math.max(0.001, (Date.now() - this.#started) / 1000);
    const detail = Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    if (this.#tty) {
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      this.#out.write(
        `\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${this.#done}/${this.#total} ${pct}% ${rate.toFixed(0)}/s  ${detail}   `,
      );
      if (this.#done === this.#total) this.#out.write('\n');
    } else if (pct >= this.#lastPct + 5 || this.#done === this.#total || this.#done % 1000 === 0) {
      this.#lastPct = pct;
      this.#out.write(`${this.#done}/${this.#total} (${pct}%) ${rate.toFixed(0)}/s ${detail}\n`);
    }
  }
}
