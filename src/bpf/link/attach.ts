// One way to attach a program to an interface hook, whatever the kernel offers: BPF links (XDP
// links, TCX) where supported, else netlink (IFLA_XDP, clsact + cls_bpf). The backend can be
// forced per call, process-wide with setAttachBackend(), or with PLEXUS_ATTACH_BACKEND.
import { AttachType, BpfCmd } from "../constants.js";
import { NotSupportedError, PlexusBpfError } from "../errors.js";
import { getFdById } from "../sys/bpf.js";
import { native } from "../sys/native.js";
import { type InterfaceRef, type InterfaceSpec, resolveInterface } from "../netlink/interfaces.js";
import {
  type TcDirection,
  type TcFilter,
  attachTcFilter,
  detachTcFilter,
  listTcFilters,
  replaceTcFilter,
} from "../netlink/tc.js";
import {
  type XdpMode,
  attachXdpNetlink,
  detachXdpNetlink,
  queryXdp,
  replaceXdpNetlink,
} from "../netlink/xdp.js";
import type { Link } from "./link.js";
import { haveTcxLinks, haveXdpLinks } from "./probe.js";
import type { ProgramRef } from "./program-ref.js";
import { type TcxAnchor, attachTcx } from "./tcx.js";
import { attachXdp } from "./xdp.js";

export type AttachHook =
  | { kind: "xdp"; mode?: XdpMode }
  | {
      kind: "tc";
      direction: TcDirection;
      /** Link backend (TCX) only: run before this program/link. */
      before?: TcxAnchor;
      /** Link backend (TCX) only: run after this program/link. */
      after?: TcxAnchor;
      /** Netlink backend (cls_bpf) only: filter priority, lower runs first. */
      priority?: number;
    };

export type AttachBackend = "link" | "netlink" | "auto";

export interface AttachOptions {
  /** Overrides the process-wide choice for this call. */
  backend?: AttachBackend;
  /**
   * XDP: replace a program attached by another tool instead of failing. Only netlink can, so
   * this picks the netlink backend ('auto') or is refused ('link').
   */
  replace?: boolean;
}

/** A program attached to an interface hook, whichever way it was done. */
export interface Attachment {
  readonly backend: "link" | "netlink";
  readonly hook: AttachHook;
  readonly iface: InterfaceRef;
  /** The BPF link, for link-backed attachments (pin it to outlive the process). */
  readonly link?: Link;
  /** Atomically swaps the attached program: every packet sees the old or the new one. */
  update(newProg: ProgramRef): void;
  /** Removes the program from the hook. Idempotent. */
  detach(): void;
  /** One line saying what is attached where and how, read from the kernel now. */
  describe(): string;
}

let forced: AttachBackend | undefined;

/** Forces a backend for every later attach() without an explicit one; undefined restores the default. */
export function setAttachBackend(backend: AttachBackend | undefined): void {
  forced = backend;
}

/** The backend attach() uses by default: setAttachBackend(), else PLEXUS_ATTACH_BACKEND, else 'auto'. */
export function defaultAttachBackend(): AttachBackend {
  const env = process.env.PLEXUS_ATTACH_BACKEND;
  if (forced) return forced;
  if (env === "link" || env === "netlink" || env === "auto") return env;
  if (env) throw new PlexusBpfError(`PLEXUS_ATTACH_BACKEND=${env}: expected link, netlink or auto`);
  return "auto";
}

function chooseBackend(hook: AttachHook, asked: AttachBackend, replace: boolean): "link" | "netlink" {
  if (asked === "netlink") return "netlink";
  // Only netlink can take over an XDP program someone else attached; a link never replaces one.
  if (replace && hook.kind === "xdp") {
    if (asked === "link")
      throw new PlexusBpfError(
        "attach: replace needs the netlink backend (a BPF link cannot take over a program)",
      );
    return "netlink";
  }
  const supported = hook.kind === "xdp" ? haveXdpLinks() : haveTcxLinks();
  if (asked === "link" && !supported)
    throw new NotSupportedError(hook.kind === "xdp" ? "XDP BPF links" : "TCX links", "use backend 'netlink'");
  return supported ? "link" : "netlink";
}

const hookName = (hook: AttachHook): string =>
  hook.kind === "xdp" ? `xdp/${hook.mode ?? "auto"}` : `tc/${hook.direction}`;

function linkAttachment(prog: ProgramRef, iface: InterfaceRef, hook: AttachHook): Attachment {
  const link =
    hook.kind === "xdp"
      ? attachXdp(prog, iface.ifindex, { mode: hook.mode })
      : attachTcx(prog, iface.ifindex, hook.direction, { before: hook.before, after: hook.after });
  let detached = false;
  return {
    backend: "link",
    hook,
    iface,
    link,
    update: (newProg) => link.update(newProg),
    detach() {
      if (detached) return;
      detached = true;
      try {
        link.detach();
      } finally {
        link.close();
      }
    },
    describe() {
      if (detached) return `${hookName(hook)} on ${iface.name}: detached`;
      const info = link.info();
      let mode = "";
      if (hook.kind === "xdp") {
        const s = queryXdp(iface.ifindex);
        mode = s.attached === "native" || s.attached === "generic" ? ` (${s.attached})` : "";
      }
      return `${hookName(hook)}${mode} on ${iface.name} (ifindex ${iface.ifindex}) via BPF link ${info.id}: program ${info.progId}`;
    },
  };
}

/** Runs `fn` with an fd for program `id` (for netlink's "expected program" checks). */
function withProgFd<T>(id: number, fn: (p: ProgramRef) => T): T {
  const fd = getFdById(BpfCmd.PROG_GET_FD_BY_ID, id);
  try {
    return fn({ fd, id });
  } finally {
    native().close(fd);
  }
}

function netlinkXdpAttachment(
  prog: ProgramRef,
  iface: InterfaceRef,
  hook: AttachHook & { kind: "xdp" },
  replace: boolean,
): Attachment {
  const a = attachXdpNetlink(prog, iface.ifindex, { mode: hook.mode, replace });
  const mode = a.mode;
  let progId = a.progId;
  let detached = false;
  return {
    backend: "netlink",
    hook,
    iface,
    update(newProg) {
      // EXPECTED_FD: swap only if our program is still the attached one.
      withProgFd(progId, (old) => replaceXdpNetlink(newProg, iface.ifindex, { mode, expected: old }));
      const s = queryXdp(iface.ifindex);
      progId = mode === "generic" ? s.genericProgId : mode === "native" ? s.nativeProgId : s.progId;
    },
    detach() {
      if (detached) return;
      detached = true;
      withProgFd(progId, (old) => detachXdpNetlink(iface.ifindex, { mode, expected: old }));
    },
    describe() {
      if (detached) return `${hookName(hook)} on ${iface.name}: detached`;
      const s = queryXdp(iface.ifindex);
      return `${hookName(hook)} (${s.attached}) on ${iface.name} (ifindex ${iface.ifindex}) via netlink: program ${s.progId}`;
    },
  };
}

function netlinkTcAttachment(
  prog: ProgramRef,
  iface: InterfaceRef,
  hook: AttachHook & { kind: "tc" },
): Attachment {
  if (hook.before !== undefined || hook.after !== undefined)
    throw new NotSupportedError(
      "before/after ordering over netlink",
      "cls_bpf filters are ordered by priority: give hook.priority instead, or use TCX links",
    );
  let filter: TcFilter = attachTcFilter(prog, iface.ifindex, hook.direction, { priority: hook.priority });
  let detached = false;
  return {
    backend: "netlink",
    hook,
    iface,
    update(newProg) {
      filter = replaceTcFilter(newProg, filter);
    },
    detach() {
      if (detached) return;
      detached = true;
      detachTcFilter(filter);
    },
    describe() {
      if (detached) return `${hookName(hook)} on ${iface.name}: detached`;
      const f = listTcFilters(iface.ifindex, hook.direction).find(
        (x) => x.priority === filter.priority && x.handle === filter.handle,
      );
      return (
        `${hookName(hook)} on ${iface.name} (ifindex ${iface.ifindex}) via netlink ` +
        `(clsact, cls_bpf prio ${filter.priority} handle ${filter.handle}): program ${f?.progId ?? "gone"}`
      );
    },
  };
}

/**
 * Attaches `prog` to `hook` of `iface` (name or ifindex, in the calling thread's network
 * namespace) with BPF links when the kernel has them, else netlink. Netlink-backed attachments
 * must be updated and detached from the same network namespace.
 */
export function attach(
  prog: ProgramRef,
  iface: InterfaceSpec,
  hook: AttachHook,
  opts: AttachOptions = {},
): Attachment {
  const ref = resolveInterface(iface);
  const backend = chooseBackend(hook, opts.backend ?? defaultAttachBackend(), opts.replace ?? false);
  if (backend === "link") return linkAttachment(prog, ref, hook);
  return hook.kind === "xdp"
    ? netlinkXdpAttachment(prog, ref, hook, opts.replace ?? false)
    : netlinkTcAttachment(prog, ref, hook);
}

/** Attach types a program must be loaded with for each hook (expected_attach_type). */
export const expectedAttachType = (hook: AttachHook): number =>
  hook.kind === "xdp"
    ? AttachType.XDP
    : hook.direction === "ingress"
      ? AttachType.TCX_INGRESS
      : AttachType.TCX_EGRESS;
