// Run-time statistics of programs (run_cnt, run_time_ns), which cost a little on every run and are
// therefore off by default. They stay on while any fd from BPF_ENABLE_STATS is open.
import { enableStatsFd } from "../sys/bpf.js";
import { native } from "../sys/native.js";

/** enum bpf_stats_type */
const BPF_STATS_RUN_TIME = 0;

/** Turns on run-time statistics until close() (BPF_ENABLE_STATS). */
export function enableStats(): { close(): void } {
  const fd = enableStatsFd(BPF_STATS_RUN_TIME);
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      native().close(fd);
    },
  };
}
