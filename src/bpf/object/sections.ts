// libbpf's section-name table for networking and socket programs: SEC("...") -> program type,
// expected attach type and load flags. Matching follows libbpf's sec_def_matches(): an entry
// ending in '+' matches the exact name or "name/anything"; others match exactly. A leading '?'
// in the section name turns autoload off.
import { AttachType, ProgFlags, ProgType } from "../constants.js";

export interface SectionDef {
  /** libbpf pattern (with a trailing '+' for prefix matches). */
  pattern: string;
  progType: number;
  expectedAttachType: number;
  progFlags: number;
}

const def = (pattern: string, progType: number, expectedAttachType = 0, progFlags = 0): SectionDef => ({
  pattern,
  progType,
  expectedAttachType,
  progFlags,
});
const P = ProgType;
const A = AttachType;

/** In libbpf's order: the first match wins. */
export const SECTION_DEFS: readonly SectionDef[] = [
  def("socket", P.SOCKET_FILTER),
  def("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE),
  def("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT),
  def("kprobe+", P.KPROBE),
  def("kretprobe+", P.KPROBE),
  def("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS),
  def("tc/egress", P.SCHED_CLS, A.TCX_EGRESS),
  def("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS),
  def("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS),
  def("tc", P.SCHED_CLS),
  def("classifier", P.SCHED_CLS),
  def("action", P.SCHED_ACT),
  def("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY),
  def("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER),
  def("tracepoint+", P.TRACEPOINT),
  def("tp+", P.TRACEPOINT),
  def("raw_tracepoint+", P.RAW_TRACEPOINT),
  def("raw_tp+", P.RAW_TRACEPOINT),
  def("syscall", P.SYSCALL, 0, ProgFlags.SLEEPABLE),
  def("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, ProgFlags.XDP_HAS_FRAGS),
  def("xdp/devmap", P.XDP, A.XDP_DEVMAP),
  def("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, ProgFlags.XDP_HAS_FRAGS),
  def("xdp/cpumap", P.XDP, A.XDP_CPUMAP),
  def("xdp.frags", P.XDP, A.XDP, ProgFlags.XDP_HAS_FRAGS),
  def("xdp", P.XDP, A.XDP),
  def("perf_event", P.PERF_EVENT),
  def("lwt_in", P.LWT_IN),
  def("lwt_out", P.LWT_OUT),
  def("lwt_xmit", P.LWT_XMIT),
  def("lwt_seg6local", P.LWT_SEG6LOCAL),
  def("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS),
  def("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER),
  def("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT),
  def("sk_skb", P.SK_SKB),
  def("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT),
  def("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR),
  def("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS),
  def("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS),
  def("cgroup/skb", P.CGROUP_SKB),
  def("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE),
  def("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE),
  def("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE),
  def("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND),
  def("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND),
  def("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND),
  def("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND),
  def("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT),
  def("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT),
  def("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG),
  def("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG),
  def("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG),
  def("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG),
  def("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME),
  def("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME),
  def("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME),
  def("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME),
  def("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL),
  def("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT),
  def("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT),
  def("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE),
  def("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP),
  def("netfilter", P.NETFILTER, A.NETFILTER),
];

function matches(pattern: string, name: string): boolean {
  if (pattern.endsWith("+")) {
    const p = pattern.slice(0, -1);
    return name === p || name.startsWith(`${p}/`);
  }
  return name === pattern;
}

/** The definition for a section name (without any leading '?'), or undefined. */
export function findSectionDef(section: string): SectionDef | undefined {
  const name = section.startsWith("?") ? section.slice(1) : section;
  return SECTION_DEFS.find((d) => matches(d.pattern, name));
}

/** Short names accepted for explicit program type overrides (as bpftool's `type` argument). */
export const PROGRAM_TYPE_ALIASES: Record<string, { progType: number; expectedAttachType: number }> = {
  xdp: { progType: P.XDP, expectedAttachType: A.XDP },
  tc: { progType: P.SCHED_CLS, expectedAttachType: 0 },
  classifier: { progType: P.SCHED_CLS, expectedAttachType: 0 },
  sched_cls: { progType: P.SCHED_CLS, expectedAttachType: 0 },
  action: { progType: P.SCHED_ACT, expectedAttachType: 0 },
  sched_act: { progType: P.SCHED_ACT, expectedAttachType: 0 },
  tcx_ingress: { progType: P.SCHED_CLS, expectedAttachType: A.TCX_INGRESS },
  tcx_egress: { progType: P.SCHED_CLS, expectedAttachType: A.TCX_EGRESS },
  socket: { progType: P.SOCKET_FILTER, expectedAttachType: 0 },
  socket_filter: { progType: P.SOCKET_FILTER, expectedAttachType: 0 },
  sk_skb: { progType: P.SK_SKB, expectedAttachType: 0 },
  sk_msg: { progType: P.SK_MSG, expectedAttachType: A.SK_MSG_VERDICT },
  cgroup_skb: { progType: P.CGROUP_SKB, expectedAttachType: 0 },
  flow_dissector: { progType: P.FLOW_DISSECTOR, expectedAttachType: A.FLOW_DISSECTOR },
  sk_lookup: { progType: P.SK_LOOKUP, expectedAttachType: A.SK_LOOKUP },
  lwt_in: { progType: P.LWT_IN, expectedAttachType: 0 },
  lwt_out: { progType: P.LWT_OUT, expectedAttachType: 0 },
  lwt_xmit: { progType: P.LWT_XMIT, expectedAttachType: 0 },
  lwt_seg6local: { progType: P.LWT_SEG6LOCAL, expectedAttachType: 0 },
};
