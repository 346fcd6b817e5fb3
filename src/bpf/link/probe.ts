// Does this kernel attach XDP and TC programs with BPF links? Probed once per process, without
// touching any interface, the way libbpf and cilium/ebpf probe link support.
import { AttachType, LinkType } from "../constants.js";
import { probeLinkType } from "../features.js";
import { EBADF } from "../sys/errno.js";
import { linkCreate } from "./syscalls.js";

let xdpLinks: boolean | undefined;

/**
 * XDP links (5.9+): LINK_CREATE with an invalid program fd. A kernel that knows BPF_XDP as a link
 * attach type looks the program up and fails with EBADF; an older one rejects the attach type
 * (or the whole command) with EINVAL first.
 */
export function haveXdpLinks(): boolean {
  xdpLinks ??= linkCreate({ progFd: -1, target: 0, attachType: AttachType.XDP }).errno === EBADF;
  return xdpLinks;
}

/**
 * TCX links (6.6+): LINK_CREATE of a real sched_cls program on ifindex 0, which a kernel with TCX
 * answers with ENODEV (no such device) and one without with EINVAL (features.ts, cached there).
 */
export const haveTcxLinks = (): boolean => probeLinkType(LinkType.TCX);
