// The running kernel's BTF, read once per process on first use.
import { closeSync, fstatSync, openSync, readFileSync } from "../sys/fs.js";
import { BtfError } from "../errors.js";
import { native } from "../sys/native.js";
import { Btf } from "./btf.js";

export const VMLINUX_BTF_PATH = "/sys/kernel/btf/vmlinux";

const PROT_READ = 1;
const MAP_PRIVATE = 0x02;

let cached: Btf | undefined;

/**
 * The kernel's BTF mapped read-only, as libbpf maps it (Linux 6.16+): sysfs hands the 5+ MB out
 * in 4 KiB reads otherwise. Undefined when the kernel refuses, and the file must be read. The
 * mapping lives as long as the process, like the cached Btf over it.
 */
function mapVmlinux(): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(VMLINUX_BTF_PATH, "r");
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= 0) return undefined;
    const n = native();
    const r = n.mmap(size, PROT_READ, MAP_PRIVATE, fd, 0);
    return r.ret < 0 ? undefined : new Uint8Array(n.view(r.ptr, size));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** /sys/kernel/btf/vmlinux, parsed lazily and cached for the life of the process. */
export function vmlinuxBtf(): Btf {
  if (cached) return cached;
  let buf = mapVmlinux();
  if (!buf)
    try {
      buf = readFileSync(VMLINUX_BTF_PATH);
    } catch (e) {
      throw new BtfError(
        `cannot read the kernel's BTF (${(e as Error).message}): the kernel needs CONFIG_DEBUG_INFO_BTF=y for CO-RE`,
        VMLINUX_BTF_PATH,
      );
    }
  // The kernel checked its own BTF at boot; a type is still checked when it is first used.
  cached = Btf.parse(buf, { fileName: VMLINUX_BTF_PATH, lazy: true });
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
  return Btf.parse(buf, { base: vmlinuxBtf(), fileName: path, lazy: true });
}
