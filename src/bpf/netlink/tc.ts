// TC through rtnetlink, the way `tc` and libbpf's bpf_tc_*() do it: a clsact qdisc (created when
// missing, left alone when present) holding cls_bpf filters in direct-action mode, one per
// (direction, priority, handle). Replacing the program of an existing filter is atomic.
import { NetlinkError } from "../errors.js";
import { EEXIST } from "../sys/errno.js";
import type { ProgramRef } from "../link/program-ref.js";
import { AttrBuilder, Attrs } from "./attributes.js";
import {
  ETH_P_ALL,
  EPROTO,
  NlmF,
  Rtm,
  TCA_BPF_FLAG_ACT_DIRECT,
  TC_H_CLSACT,
  TC_H_MIN_EGRESS,
  TC_H_MIN_INGRESS,
  Tca,
  TcaBpf,
  tcHandle,
} from "./constants.js";
import { type InterfaceRef, type InterfaceSpec, resolveInterface } from "./interfaces.js";
import { TCMSG_LEN, parseTcmsg, tcmsg } from "./messages.js";
import { NetlinkSocket } from "./socket.js";

export type TcDirection = "ingress" | "egress";

/** A cls_bpf filter: what identifies it (ifindex, direction, priority, handle) and its program. */
export interface TcFilter {
  ifindex: number;
  direction: TcDirection;
  priority: number;
  handle: number;
  /** Classifier kind ("bpf" for the filters made here). */
  kind: string;
  /** Program id (cls_bpf filters only). */
  progId: number;
  /** Program name as given at attach time (cls_bpf filters only). */
  name: string;
  directAction: boolean;
}

const CLSACT_HANDLE = tcHandle(TC_H_CLSACT, 0);
const htons = (v: number): number => ((v & 0xff) << 8) | ((v >> 8) & 0xff);

export const tcParent = (direction: TcDirection): number =>
  tcHandle(TC_H_CLSACT, direction === "ingress" ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);

const filterInfo = (priority: number): number => (((priority & 0xffff) << 16) | htons(ETH_P_ALL)) >>> 0;

/** The qdisc at clsact's place on an interface (kind "clsact", "ingress", ...), if any. */
export function rootIngressQdisc(iface: InterfaceSpec): string | undefined {
  const ref = resolveInterface(iface);
  const parts = NetlinkSocket.with((s) =>
    s.dump(
      `list qdiscs of ${ref.name}`,
      Rtm.GETQDISC,
      tcmsg({ ifindex: ref.ifindex, handle: 0, parent: 0, info: 0 }),
    ),
  );
  for (const m of parts) {
    const t = parseTcmsg(m.payload);
    if (t.ifindex === ref.ifindex && t.parent === TC_H_CLSACT)
      return Attrs.parse(m.payload.subarray(TCMSG_LEN)).string(Tca.KIND);
  }
  return undefined;
}

/** Makes sure `iface` has a clsact qdisc. Returns true when it created one. */
export function ensureClsact(iface: InterfaceSpec): boolean {
  const ref = resolveInterface(iface);
  const body = tcmsg(
    { ifindex: ref.ifindex, handle: CLSACT_HANDLE, parent: TC_H_CLSACT, info: 0 },
    new AttrBuilder().string(Tca.KIND, "clsact").finish(),
  );
  try {
    NetlinkSocket.with((s) =>
      s.request(`add clsact qdisc to ${ref.name}`, Rtm.NEWQDISC, NlmF.CREATE | NlmF.EXCL, body),
    );
    return true;
  } catch (e) {
    if (!(e instanceof NetlinkError) || e.errno !== EEXIST) throw e;
  }
  const kind = rootIngressQdisc(ref.ifindex);
  if (kind !== "clsact")
    throw new NetlinkError(
      `add clsact qdisc to ${ref.name}`,
      EEXIST,
      `${ref.name} has a "${kind}" qdisc where clsact goes; remove it with ` +
        `\`tc qdisc del dev ${ref.name} ${kind === "ingress" ? "ingress" : "clsact"}\` if nothing needs it`,
    );
  return false;
}

/** Removes the clsact qdisc of `iface` and every filter in it. */
export function deleteClsact(iface: InterfaceSpec): void {
  const ref = resolveInterface(iface);
  const body = tcmsg(
    { ifindex: ref.ifindex, handle: CLSACT_HANDLE, parent: TC_H_CLSACT, info: 0 },
    new AttrBuilder().string(Tca.KIND, "clsact").finish(),
  );
  NetlinkSocket.with((s) => s.request(`delete clsact qdisc of ${ref.name}`, Rtm.DELQDISC, 0, body));
}

function parseFilter(payload: Buffer): TcFilter {
  const t = parseTcmsg(payload);
  const attrs = Attrs.parse(payload.subarray(TCMSG_LEN), "tc filter");
  const kind = attrs.string(Tca.KIND) ?? "";
  const opts = kind === "bpf" ? attrs.nested(Tca.OPTIONS) : undefined;
  return {
    ifindex: t.ifindex,
    direction: (t.parent & 0xffff) === TC_H_MIN_EGRESS ? "egress" : "ingress",
    priority: t.info >>> 16,
    handle: t.handle,
    kind,
    progId: opts?.u32(TcaBpf.ID) ?? 0,
    name: opts?.string(TcaBpf.NAME) ?? "",
    directAction: ((opts?.u32(TcaBpf.FLAGS) ?? 0) & TCA_BPF_FLAG_ACT_DIRECT) !== 0,
  };
}

/** Filters on one side of the clsact qdisc of `iface`, in the order tc runs them (by priority). */
export function listTcFilters(iface: InterfaceSpec, direction: TcDirection): TcFilter[] {
  const ref = resolveInterface(iface);
  const parts = NetlinkSocket.with((s) =>
    s.dump(
      `list ${direction} filters of ${ref.name}`,
      Rtm.GETTFILTER,
      tcmsg({ ifindex: ref.ifindex, handle: 0, parent: tcParent(direction), info: 0 }),
    ),
  );
  // Each priority also reports its chain head (handle 0): not a filter.
  return parts
    .map((m) => parseFilter(m.payload))
    .filter((f) => f.handle !== 0)
    .sort((a, b) => a.priority - b.priority || a.handle - b.handle);
}

export interface TcAttachOptions {
  /** Filter priority, 1..65535 (lower runs first); default: the kernel picks one. */
  priority?: number;
  /** Filter handle; default: the kernel picks one. */
  handle?: number;
  /** Name shown by `tc filter show` (default "plexus"). */
  name?: string;
}

function bpfFilterBody(
  ref: InterfaceRef,
  direction: TcDirection,
  prog: ProgramRef,
  o: TcAttachOptions,
): Buffer {
  const attrs = new AttrBuilder()
    .string(Tca.KIND, "bpf")
    .nested(Tca.OPTIONS, (x) =>
      x
        .u32(TcaBpf.FD, prog.fd)
        .string(TcaBpf.NAME, o.name ?? "plexus")
        .u32(TcaBpf.FLAGS, TCA_BPF_FLAG_ACT_DIRECT),
    )
    .finish();
  const m = {
    ifindex: ref.ifindex,
    handle: o.handle ?? 0,
    parent: tcParent(direction),
    info: filterInfo(o.priority ?? 0),
  };
  return tcmsg(m, attrs);
}

function checkPriority(p: number | undefined): void {
  if (p !== undefined && (!Number.isInteger(p) || p < 1 || p > 0xffff))
    throw new NetlinkError("tc filter", EPROTO, `priority ${p} is not in 1..65535`);
}

/**
 * Attaches `prog` as a direct-action cls_bpf filter on `direction` of `iface`, creating the
 * clsact qdisc if needed. Fails (EEXIST) if a filter with the same priority and handle exists.
 */
export function attachTcFilter(
  prog: ProgramRef,
  iface: InterfaceSpec,
  direction: TcDirection,
  opts: TcAttachOptions = {},
): TcFilter {
  checkPriority(opts.priority);
  const ref = resolveInterface(iface);
  ensureClsact(ref.ifindex);
  const op = `attach tc ${direction} filter to ${ref.name}`;
  const echoed = NetlinkSocket.with((s) =>
    s.request(
      op,
      Rtm.NEWTFILTER,
      NlmF.CREATE | NlmF.EXCL | NlmF.ECHO,
      bpfFilterBody(ref, direction, prog, opts),
    ),
  );
  const reply = echoed.find((m) => m.type === Rtm.NEWTFILTER);
  if (reply) return parseFilter(reply.payload);
  // No echo (should not happen): find the filter by what we asked for.
  const found = listTcFilters(ref.ifindex, direction).find(
    (f) =>
      (opts.priority === undefined || f.priority === opts.priority) &&
      (opts.handle === undefined || f.handle === opts.handle) &&
      (prog.id === undefined || f.progId === prog.id),
  );
  if (!found) throw new NetlinkError(op, EPROTO, "the new filter is not in the filter list");
  return found;
}

/** Atomically replaces the program of an existing filter (same priority and handle); ENOENT if it is gone. */
export function replaceTcFilter(
  prog: ProgramRef,
  filter: Pick<TcFilter, "ifindex" | "direction" | "priority" | "handle">,
  opts: { name?: string } = {},
): TcFilter {
  const ref = resolveInterface(filter.ifindex);
  const body = bpfFilterBody(ref, filter.direction, prog, {
    ...opts,
    priority: filter.priority,
    handle: filter.handle,
  });
  const echoed = NetlinkSocket.with((s) =>
    s.request(
      `replace tc ${filter.direction} filter on ${ref.name}`,
      Rtm.NEWTFILTER,
      NlmF.REPLACE | NlmF.ECHO,
      body,
    ),
  );
  const reply = echoed.find((m) => m.type === Rtm.NEWTFILTER);
  return reply
    ? parseFilter(reply.payload)
    : { ...filter, kind: "bpf", progId: prog.id ?? 0, name: opts.name ?? "plexus", directAction: true };
}

/** Deletes one filter. */
export function detachTcFilter(
  filter: Pick<TcFilter, "ifindex" | "direction" | "priority" | "handle">,
): void {
  const ref = resolveInterface(filter.ifindex);
  const body = tcmsg({
    ifindex: ref.ifindex,
    handle: filter.handle,
    parent: tcParent(filter.direction),
    info: filterInfo(filter.priority),
  });
  NetlinkSocket.with((s) =>
    s.request(`delete tc ${filter.direction} filter of ${ref.name}`, Rtm.DELTFILTER, 0, body),
  );
}
