// What every lab benchmark shares: how a figure is printed, and waiting for a condition.

/** Prints a figure; `./dev bench` collects the BENCH lines. */
export function report(line: string) {
  console.log(`BENCH ${line}`);
}

/** Waits (checking every 0.5 s) until `check` holds; fails after `limitMs`. */
export async function until(what: string, limitMs: number, check: () => Promise<boolean> | boolean) {
  const start = Date.now();
  while (Date.now() - start < limitMs) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what}: not reached within ${limitMs / 1000} s`);
}

/** The middle value (the upper one of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
