// XDP through rtnetlink (RTM_SETLINK / RTM_GETLINK with IFLA_XDP), the way `ip link set dev X xdp`
// and libbpf's bpf_xdp_attach() do it: works on kernels without XDP links, and is how programs
// attached by other tools are seen.
import { NetlinkError } from "../errors.js";
import { EBUSY, EEXIST } from "../sys/errno.js";
import type { ProgramRef } from "../link/program-ref.js";
import { XdpFlags } from "../constants.js";
import { AttrBuilder, Attrs } from "./attributes.js";
import { Ifla, IflaXdp, RTEXT_FILTER_SKIP_STATS, Rtm, XdpAttached } from "./constants.js";
import { type InterfaceRef, type InterfaceSpec, resolveInterface } from "./interfaces.js";
import { IFINFOMSG_LEN, ifinfomsg } from "./messages.js";
import { NetlinkSocket } from "./socket.js";

/** Where XDP runs: in the driver ('native'), in the generic skb path, or the kernel's choice. */
export type XdpMode = "native" | "generic" | "auto";

/** XDP programs attached to an interface, as the kernel reports them (ids 0 when none). */
export interface XdpState {
  ifindex: number;
  /** The single attachment's mode, 'none', or 'multi' when several modes hold programs. */
  attached: "none" | "native" | "generic" | "offload" | "multi";
  /** Id of the program when exactly one is attached. */
  progId: number;
  nativeProgId: number;
  genericProgId: number;
  offloadProgId: number;
}

export const xdpModeFlags = (mode: XdpMode): number =>
  mode === "native" ? XdpFlags.DRV_MODE : mode === "generic" ? XdpFlags.SKB_MODE : 0;

const ATTACHED_NAMES = ["none", "native", "generic", "offload", "multi"] as const;

/** Reads the XDP state of an interface (RTM_GETLINK). */
export function queryXdp(iface: InterfaceSpec): XdpState {
  const ref = resolveInterface(iface);
  const attrs = new AttrBuilder().u32(Ifla.EXT_MASK, RTEXT_FILTER_SKIP_STATS).finish();
  const replies = NetlinkSocket.with((s) =>
    s.request(`query XDP on ${ref.name}`, Rtm.GETLINK, 0, ifinfomsg(ref.ifindex, attrs)),
  );
  const link = replies.find((m) => m.type === Rtm.NEWLINK);
  const xdp = link ? Attrs.parse(link.payload.subarray(IFINFOMSG_LEN)).nested(Ifla.XDP) : undefined;
  const attached = xdp?.u8(IflaXdp.ATTACHED) ?? XdpAttached.NONE;
  return {
    ifindex: ref.ifindex,
    attached: ATTACHED_NAMES[attached] ?? "multi",
    progId: xdp?.u32(IflaXdp.PROG_ID) ?? 0,
    nativeProgId: xdp?.u32(IflaXdp.DRV_PROG_ID) ?? 0,
    genericProgId: xdp?.u32(IflaXdp.SKB_PROG_ID) ?? 0,
    offloadProgId: xdp?.u32(IflaXdp.HW_PROG_ID) ?? 0,
  };
}

/** The mode an attachment ended up in, for a later replace/detach with the same mode flags. */
function resolvedMode(state: XdpState, asked: XdpMode): XdpMode {
  if (asked !== "auto") return asked;
  return state.attached === "generic" ? "generic" : state.attached === "native" ? "native" : "auto";
}

/**
 * Explains an XDP conflict: which program holds the interface and how to free it. `linkId` is
 * set when a BPF link holds it (then `ip link` cannot remove it).
 */
export function xdpConflictMessage(ref: InterfaceRef, state: XdpState, linkId?: number): string {
  const id = state.progId || state.nativeProgId || state.genericProgId || state.offloadProgId;
  if (linkId !== undefined)
    return (
      `${ref.name} has an XDP program attached through BPF link ${linkId} (program id ${id}); ` +
      `detach that link (close it, or \`bpftool link detach id ${linkId}\`) or update it instead`
    );
  const off =
    state.attached === "generic" ? "xdpgeneric off" : state.attached === "native" ? "xdpdrv off" : "xdp off";
  return (
    `${ref.name} has an XDP program attached by another tool (id ${id}); ` +
    `detach it with \`ip link set dev ${ref.name} ${off}\` or attach with replace`
  );
}

function setXdp(operation: string, ref: InterfaceRef, fd: number, flags: number, expectedFd?: number): void {
  const attrs = new AttrBuilder()
    .nested(Ifla.XDP, (x) => {
      x.s32(IflaXdp.FD, fd);
      if (flags) x.u32(IflaXdp.FLAGS, flags);
      if (expectedFd !== undefined) x.s32(IflaXdp.EXPECTED_FD, expectedFd);
    })
    .finish();
  NetlinkSocket.with((s) => s.request(operation, Rtm.SETLINK, 0, ifinfomsg(ref.ifindex, attrs)));
}

export interface NetlinkXdpAttachOptions {
  mode?: XdpMode;
  /**
   * Replace whatever XDP program is attached (true), or only `replace` itself (a program: the
   * kernel refuses if another one is attached by then). Default: fail if any is attached.
   */
  replace?: boolean | ProgramRef;
}

/** An XDP program attached through netlink: it stays until detached, whoever holds the fd. */
export interface NetlinkXdpAttachment {
  readonly iface: InterfaceRef;
  /** The mode the program runs in (never 'auto' once the kernel has chosen). */
  readonly mode: XdpMode;
  readonly progId: number;
}

/** Attaches `prog` with IFLA_XDP; by default refuses to replace an attached program. */
export function attachXdpNetlink(
  prog: ProgramRef,
  iface: InterfaceSpec,
  opts: NetlinkXdpAttachOptions = {},
): NetlinkXdpAttachment {
  const ref = resolveInterface(iface);
  const mode = opts.mode ?? "auto";
  let flags = xdpModeFlags(mode);
  let expected: number | undefined;
  if (opts.replace === undefined || opts.replace === false) flags |= XdpFlags.UPDATE_IF_NOEXIST;
  else if (opts.replace !== true) {
    flags |= XdpFlags.REPLACE;
    expected = opts.replace.fd;
  }
  const op = `attach XDP to ${ref.name}`;
  try {
    setXdp(op, ref, prog.fd, flags, expected);
  } catch (e) {
    // EBUSY: a program in this mode; EEXIST without REPLACE: one in the other mode.
    if (!(e instanceof NetlinkError)) throw e;
    if (e.errno !== EBUSY && (e.errno !== EEXIST || expected !== undefined)) throw e;
    const state = queryXdp(ref.ifindex);
    if (!state.progId && !state.nativeProgId && !state.genericProgId) throw e;
    if (!/link/i.test(e.extack ?? "")) throw new NetlinkError(op, e.errno, xdpConflictMessage(ref, state));
    throw new NetlinkError(
      op,
      EBUSY,
      `${e.extack}: the XDP program of ${ref.name} (id ${state.progId}) is held by a BPF link; ` +
        `update or detach that link instead (\`bpftool link show\` lists it)`,
    );
  }
  const state = queryXdp(ref.ifindex);
  const progId =
    mode === "generic" ? state.genericProgId : mode === "native" ? state.nativeProgId : state.progId;
  return { iface: ref, mode: resolvedMode(state, mode), progId };
}

/**
 * Atomically swaps the XDP program of `iface` (mode of the current one) for `newProg`. With
 * `expected`, the kernel refuses (EEXIST) unless `expected` is still the attached program.
 */
export function replaceXdpNetlink(
  newProg: ProgramRef,
  iface: InterfaceSpec,
  opts: { mode?: XdpMode; expected?: ProgramRef } = {},
): void {
  const ref = resolveInterface(iface);
  let flags = xdpModeFlags(opts.mode ?? "auto");
  if (opts.expected) flags |= XdpFlags.REPLACE;
  setXdp(`replace XDP program on ${ref.name}`, ref, newProg.fd, flags, opts.expected?.fd);
}

/** Detaches the XDP program of `iface` in `mode` (only if it is still `expected`, when given). */
export function detachXdpNetlink(
  iface: InterfaceSpec,
  opts: { mode?: XdpMode; expected?: ProgramRef } = {},
): void {
  const ref = resolveInterface(iface);
  let flags = xdpModeFlags(opts.mode ?? "auto");
  if (opts.expected) flags |= XdpFlags.REPLACE;
  setXdp(`detach XDP from ${ref.name}`, ref, -1, flags, opts.expected?.fd);
}
