/**
 * A stand-in for a plant runtime, used by the demo: it says what it is doing and
 * stops cleanly on SIGTERM.
 */
const mode = process.env.DUPLEX_MODE ?? 'unknown';
const server = process.env.DUPLEX_SERVER ?? '?';
const started = Date.now();
process.stdout.write(`[stand-in runtime on ${server}] running in ${mode} mode (pid ${process.pid})\n`);
const timer = setInterval(() => {
  const s = Math.round((Date.now() - started) / 1000);
  process.stdout.write(`[stand-in runtime on ${server}] still ${mode} after ${s} s\n`);
}, 15_000);
// A stand-in has no business outliving the node that started it (real runtimes are
// found and adopted or stopped by the node on its next start).
const parent = process.ppid;
const orphanCheck = setInterval(() => {
  if (process.ppid !== parent) {
    process.stdout.write(`[stand-in runtime on ${server}] its Duplex node is gone; stopping\n`);
    process.exit(0);
  }
}, 1_000);
process.on('SIGTERM', () => {
  clearInterval(orphanCheck);
  clearInterval(timer);
  process.stdout.write(`[stand-in runtime on ${server}] stopping\n`);
  process.exit(0);
});
