// Does this kernel attach XDP and TC programs with BPF links? Probed once per process, without
// touching any interface, in the manner of libbpf's and cilium/ebpf's feature probes.
import { AttachType, ProgType } from "../constants.js";
import { EBADF, ENODEV } from "../sys/errno.js";
import { native } from "../sys/native.js";
import { linkCreate, progLoadRaw } from "./syscalls.js";

let xdpLinks: boolean | undefined;
let tcxLinks: boolean | undefined;

/** `r0 = 0; exit`: the smallest valid program. */
const RETURN_ZERO = Buffer.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

/**
 * XDP links (5.9+): LINK_CREATE with an invalid program fd. A kernel that knows BPF_XDP as a link
 * attach type looks the program up and fails with EBADF; an older one rejects the attach type
 * (or the command) with EINVAL first.
 */
export function haveXdpLinks(): boolean {
  xdpLinks ??= linkCreate({ progFd: -1, target: 0, attachType: AttachType.XDP }).errno === EBADF;
  return xdpLinks;
}

/**
 * TCX links (6.6+): LINK_CREATE of a real sched_cls program on ifindex 0. A kernel with TCX looks
 * for the device and fails with ENODEV; without TCX the attach type is refused (EINVAL).
 */
export function haveTcxLinks(): boolean {
  if (tcxLinks !== undefined) return tcxLinks;
  const prog = progLoadRaw(ProgType.SCHED_CLS, RETURN_ZERO);
  if (prog.ret < 0) return (tcxLinks = false);
  try {
    const r = linkCreate({ progFd: prog.ret, target: 0, attachType: AttachType.TCX_INGRESS, relative: 0 });
    if (r.ret >= 0) native().close(r.ret); // cannot happen: there is no ifindex 0
    tcxLinks = r.ret < 0 && r.errno === ENODEV;
  } finally {
    native().close(prog.ret);
  }
  return tcxLinks;
}

/** Forgets probe results (tests that fake a kernel use it). */
export function resetLinkProbes(): void {
  xdpLinks = undefined;
  tcxLinks = undefined;
}
