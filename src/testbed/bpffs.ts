// A private bpffs for pinning tests: mounted on a fresh temporary directory (never /sys/fs/bpf),
// unmounted and removed by cleanup() or, failing that, when the process exits (see on-exit.ts).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onExit } from "./on-exit.js";

export interface Bpffs {
  /** Mount point: pin paths go below it. */
  path: string;
  /** Unmounts and removes the directory (idempotent; also done at process exit). */
  cleanup(): void;
}

/** True while a bpf filesystem is mounted exactly at `dir` (per /proc/mounts). */
export function isBpffsMounted(dir: string): boolean {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .some((l) => {
      const [, mnt, type] = l.split(" ");
      return type === "bpf" && mnt === dir;
    });
}

function unmount(dir: string): void {
  if (isBpffsMounted(dir)) {
    try {
      execFileSync("umount", [dir], { stdio: "pipe" });
    } catch {
      // Busy (an open file below it): detach now, the kernel frees it when the last user goes.
      execFileSync("umount", ["-l", dir], { stdio: "pipe" });
    }
  }
  rmdirSync(dir); // empty once unmounted; a non-empty dir means it was not our mount: keep it
}

/** Mounts a fresh bpffs on a temporary directory. */
export function mountBpffs(): Bpffs {
  const dir = mkdtempSync(join(tmpdir(), "px-bpffs-"));
  try {
    execFileSync("mount", ["-t", "bpf", "bpf", dir], { stdio: "pipe" });
  } catch (e) {
    rmdirSync(dir);
    throw e;
  }
  const cleanup = onExit(() => unmount(dir));
  return { path: dir, cleanup };
}
