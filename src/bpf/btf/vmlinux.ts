// The running kernel's BTF, read once per process on first use.
import { readFileSync } from "node:fs";
import { BtfError } from "../errors.js";
import { Btf } from "./btf.js";

export const VMLINUX_BTF_PATH = "/sys/kernel/btf/vmlinux";

let cached: Btf | undefined;

/** /sys/kernel/btf/vmlinux, parsed lazily and cached for the life of the process. */
export function vmlinuxBtf(): Btf {
  if (cached) return cached;
  let buf: Buffer;
  try {
    buf = readFileSync(VMLINUX_BTF_PATH);
  } catch (e) {
    throw new BtfError(
      `cannot read the kernel's BTF (${(e as Error).message}): the kernel needs CONFIG_DEBUG_INFO_BTF=y for CO-RE`,
      VMLINUX_BTF_PATH,
    );
  }
  cached = Btf.parse(buf, { fileName: VMLINUX_BTF_PATH });
  return cached;
}

/** BTF of a kernel module (split BTF on top of vmlinux), from /sys/kernel/btf/<module>. */
export function moduleBtf(module: string): Btf {
  const path = `/sys/kernel/btf/${module}`;
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new BtfError(`cannot read the BTF of module ${module}: ${(e as Error).message}`, path);
  }
  return Btf.parse(buf, { base: vmlinuxBtf(), fileName: path });
}
