// Preloaded into a benchmarked Lakeforge process (`node --import ./bench/peak-rss.mjs ...`): when the
// process exits, writes its peak resident set (`VmHWM` of /proc/self/status, in kB) to the file named
// by BENCH_PEAK_RSS_FILE.
import { readFileSync, writeFileSync } from "node:fs";

const file = process.env.BENCH_PEAK_RSS_FILE;
if (file) {
  process.on("exit", () => {
    try {
      const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
      if (kb) writeFileSync(file, kb);
    } catch {
      // no /proc: nothing to report
    }
  });
}
