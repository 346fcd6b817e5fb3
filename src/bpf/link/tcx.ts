// TCX: BPF links on the tc ingress/egress hooks of an interface (Linux 6.6+), several programs
// per hook in an explicit order (the kernel's mprog API: before/after a program or link, first,
// last, and a revision that changes with every change of the chain).
import { AttachFlags, AttachType, LinkType } from "../constants.js";
import { BpfError, PlexusBpfError } from "../errors.js";
import { E2BIG, EEXIST, EINVAL, ENOENT } from "../sys/errno.js";
import { native } from "../sys/native.js";
import { type InterfaceRef, type InterfaceSpec, resolveInterface } from "../netlink/interfaces.js";
import { Link, readLinkInfo } from "./link.js";
import type { ProgramRef } from "./program-ref.js";
import { linkCreate, progQuery } from "./syscalls.js";

const ESTALE = 116;

export type TcxDirection = "ingress" | "egress";

/** A position reference in a TCX chain: a link, a program, or either by id. */
export type TcxAnchor = Link | ProgramRef | { readonly progId: number } | { readonly linkId: number };

export interface TcxAttachOptions {
  /** Run just before this program/link. */
  before?: TcxAnchor;
  /** Run just after this program/link. */
  after?: TcxAnchor;
  /** Run before every program attached so far. */
  first?: boolean;
  /** Run after every program attached so far (the kernel's default too). */
  last?: boolean;
  /** Fail (ESTALE) unless the chain is still at this revision (see queryTcx). */
  expectedRevision?: bigint | number;
}

export const tcxAttachType = (d: TcxDirection): number =>
  d === "ingress" ? AttachType.TCX_INGRESS : AttachType.TCX_EGRESS;

/** A BPF link holding a program in the TCX chain of an interface. */
export class TcxLink extends Link {
  constructor(
    fd: number,
    id: number,
    readonly iface: InterfaceRef,
    readonly direction: TcxDirection,
  ) {
    super(fd, id, LinkType.TCX);
  }
}

/** Encodes the position options as mprog flags and a relative fd or id. */
function position(opts: TcxAttachOptions): { flags: number; relative: number } {
  const given = [opts.before, opts.after, opts.first || undefined, opts.last || undefined].filter(
    (x) => x !== undefined,
  );
  if (given.length > 1)
    throw new PlexusBpfError("attachTcx: give at most one of before, after, first and last");
  if (opts.first) return { flags: AttachFlags.BEFORE, relative: 0 };
  if (opts.last) return { flags: AttachFlags.AFTER, relative: 0 };
  const anchor = opts.before ?? opts.after;
  if (anchor === undefined) return { flags: 0, relative: 0 };
  let flags = opts.before !== undefined ? AttachFlags.BEFORE : AttachFlags.AFTER;
  let relative: number;
  if (anchor instanceof Link) {
    flags |= AttachFlags.LINK;
    relative = anchor.fd;
  } else if ("linkId" in anchor) {
    flags |= AttachFlags.LINK | AttachFlags.ID;
    relative = anchor.linkId;
  } else if ("progId" in anchor) {
    flags |= AttachFlags.ID;
    relative = anchor.progId;
  } else relative = anchor.fd;
  return { flags, relative };
}

function tcxError(ref: InterfaceRef, direction: TcxDirection, errno: number): BpfError {
  const where = `TCX ${direction} of ${ref.name}`;
  const detail: Record<number, string> = {
    [ENOENT]: `the program or link to attach before/after is not in the ${where}`,
    [ESTALE]: `the ${where} changed since the expected revision; query it again`,
    [EEXIST]: `this program is already in the ${where}`,
    [E2BIG]: `the ${where} is full`,
    [EINVAL]: `attaching to the ${where}: is it a sched_cls program?`,
  };
  return new BpfError("BPF_LINK_CREATE", errno, detail[errno] ?? `attaching to the ${where}`);
}

/** Attaches a sched_cls program to the tc ingress or egress hook of an interface with a TCX link. */
export function attachTcx(
  prog: ProgramRef,
  iface: InterfaceSpec,
  direction: TcxDirection,
  opts: TcxAttachOptions = {},
): TcxLink {
  const ref = resolveInterface(iface);
  const { flags, relative } = position(opts);
  const r = linkCreate({
    progFd: prog.fd,
    target: ref.ifindex,
    attachType: tcxAttachType(direction),
    flags,
    relative,
    expectedRevision: opts.expectedRevision === undefined ? 0n : BigInt(opts.expectedRevision),
  });
  if (r.fd < 0) throw tcxError(ref, direction, r.errno);
  try {
    return new TcxLink(r.fd, readLinkInfo(r.fd).id, ref, direction);
  } catch (e) {
    native().close(r.fd);
    throw e;
  }
}

export interface TcxEntry {
  progId: number;
  /** 0 for a program attached without a link (BPF_PROG_ATTACH). */
  linkId: number;
}

export interface TcxChain {
  /** Changes with every attach/detach/update; pass it as expectedRevision to attach atomically. */
  revision: bigint;
  /** Programs in the order they run. */
  entries: TcxEntry[];
}

/** The programs in the TCX chain of an interface, in run order (BPF_PROG_QUERY). */
export function queryTcx(iface: InterfaceSpec, direction: TcxDirection): TcxChain {
  const ref = resolveInterface(iface);
  const q = progQuery(ref.ifindex, tcxAttachType(direction));
  return {
    revision: q.revision,
    entries: q.progIds.map((progId, i) => ({ progId, linkId: q.linkIds[i] })),
  };
}
