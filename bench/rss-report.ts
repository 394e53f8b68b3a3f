/** Preloaded by bench:cli into the measured process: prints its peak RSS (KB) to stderr on exit. */
process.on('exit', () => {
  process.stderr.write(`DUPLEX_RSS_KB=${process.resourceUsage().maxRSS}\n`);
});
