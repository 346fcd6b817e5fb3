// Loading BTF into the kernel (BPF_BTF_LOAD), for maps and programs that carry type information.
import { BpfCmd } from "./constants.js";
import { BpfError } from "./errors.js";
import { stableBuffer } from "./sys/buffers.js";
import { btfLoadRaw, getFdById } from "./sys/bpf.js";
import { ENOSPC } from "./sys/errno.js";
import { btfInfo, type BtfInfo } from "./sys/info.js";
import { native } from "./sys/native.js";

export interface KernelBtf {
  fd: number;
  id: number;
  close(): void;
}

const LOG_SIZE = 64 * 1024;
const MAX_LOG_SIZE = 0xffffffff >>> 8;
const LOG_TAIL_LINES = 20;

function handle(fd: number): KernelBtf {
  let id: number;
  try {
    id = btfInfo(fd).id;
  } catch (e) {
    native().close(fd);
    throw e;
  }
  let closed = false;
  return {
    fd,
    id,
    close() {
      if (closed) return;
      closed = true;
      native().close(fd);
    },
  };
}

/**
 * Loads a BTF blob. Like libbpf, the first attempt has no log; a failure is retried with a log
 * (grown until it fits) so the BpfError can quote the kernel's reason.
 */
export function loadBtf(blob: Uint8Array): KernelBtf {
  const first = btfLoadRaw(blob);
  if (first.fd >= 0) return handle(first.fd);
  let size = LOG_SIZE;
  for (;;) {
    const buf = stableBuffer(size);
    const r = btfLoadRaw(blob, { buf, level: 1 });
    if (r.fd >= 0) return handle(r.fd); // a transient failure the second time around
    if ((r.errno === ENOSPC || r.logTrueSize > size) && size < MAX_LOG_SIZE) {
      size = Math.min(MAX_LOG_SIZE, Math.max(r.logTrueSize, size * 2));
      continue;
    }
    const end = buf.indexOf(0);
    const log = buf
      .subarray(0, end < 0 ? buf.length : end)
      .toString()
      .trimEnd();
    const tail = log.split("\n").slice(-LOG_TAIL_LINES).join("\n");
    throw new BpfError("BPF_BTF_LOAD", first.errno, tail ? `kernel BTF log:\n${tail}` : undefined);
  }
}

/** Opens a BTF object by id (e.g. a program's or vmlinux's), taking an fd the caller closes. */
export function btfFromId(id: number): KernelBtf {
  return handle(getFdById(BpfCmd.BTF_GET_FD_BY_ID, id));
}

export { btfInfo, type BtfInfo };
