// A loaded eBPF program: BPF_PROG_LOAD with libbpf's log strategy, test runs, info and pinning.
import { BpfCmd } from "../constants.js";
import { BpfError, PlexusBpfError } from "../errors.js";
import { helperNotSupported, progTypeNotSupported } from "../features.js";
import { stableBuffer } from "../sys/buffers.js";
import {
  encodeProgLoad,
  getFdById,
  objGet,
  progLoadLogTrueSize,
  progLoadRaw,
  progLoadRawAsync,
  progTestRun,
  type EncodedProgLoad,
  type ProgLoadAttr,
} from "../sys/bpf.js";
import { E2BIG, EINVAL, ENOSPC, ENOTSUPP, EOPNOTSUPP } from "../sys/errno.js";
import { fdKind } from "../sys/fd.js";
import { programInfo, programJited, programXlated, type ProgramInfo } from "../sys/info.js";
import { native } from "../sys/native.js";
import { pinFd } from "../sys/bpffs.js";
import { verifierError } from "./verifier-log.js";

export type { ProgramInfo } from "../sys/info.js";

export interface ProgramLoadOptions extends ProgLoadAttr {
  /**
   * Verifier log level (1 = verdicts and failing path, 2 = every instruction, 4 = statistics).
   * With a level, the log is kept in `verifierLog` even on success. Without one, a failed load is
   * retried with level 1 to explain the failure (libbpf's behaviour).
   */
  logLevel?: number;
  /** Initial log buffer size in bytes; it grows until the whole log fits. */
  logSize?: number;
}

export interface TestRunOptions {
  /** Packet data in (data_in). */
  data?: Uint8Array;
  /** Room for the packet out; defaults to the input size plus 4 KiB (programs may grow packets). */
  dataSizeOut?: number;
  /** Context in (struct xdp_md, struct __sk_buff...). */
  ctx?: Uint8Array;
  /** Room for the context out; defaults to the size of ctx. */
  ctxSizeOut?: number;
  /** Number of runs (the duration is averaged over them). */
  repeat?: number;
  /** TestRunFlags. */
  flags?: number;
  cpu?: number;
  /** XDP live frames: packets per batch. */
  batchSize?: number;
}

export interface TestRunResult {
  /** The program's return value (its verdict). */
  retval: number;
  /** The packet after the program ran (when data was given). */
  data?: Buffer;
  /** The context after the program ran (when a ctx out size was given). */
  ctx?: Buffer;
  /** Average duration of one run, in nanoseconds. */
  durationNs: number;
}

const DEFAULT_LOG_SIZE = 64 * 1024;
/** libbpf's ceiling for a log buffer (UINT32_MAX >> 8). */
const MAX_LOG_SIZE = 0xffffffff >>> 8;
/** errnos after which a program type may simply be unknown to the kernel. */
const MAYBE_UNSUPPORTED = new Set([EINVAL, E2BIG, EOPNOTSUPP, ENOTSUPP]);

const logText = (b: Buffer): string => {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString("utf8");
};

type LoadResult = { fd: number; errno: number };

/**
 * The load sequence as a generator of attempts, so the synchronous and asynchronous loaders share
 * it: each yielded attr is loaded by the driver, which sends the result back.
 */
function* loadAttempts(
  opts: ProgramLoadOptions,
): Generator<EncodedProgLoad, { fd: number; log?: string }, LoadResult> {
  const requested = (opts.logLevel ?? 0) > 0;
  let level = requested ? (opts.logLevel as number) : 0;
  let size = opts.logSize ?? DEFAULT_LOG_SIZE;
  for (;;) {
    const buf = level ? stableBuffer(size) : undefined;
    const enc = encodeProgLoad(opts, buf ? { buf, level } : undefined);
    const r: LoadResult = yield enc;
    const log = buf ? logText(buf) : undefined;
    if (r.fd >= 0) return { fd: r.fd, log: requested ? log : undefined };
    // The log did not fit: grow to what the kernel says it needs (6.4+), or double.
    const needed = buf ? progLoadLogTrueSize(enc.attr) : 0;
    if (buf && (r.errno === ENOSPC || needed > size) && size < MAX_LOG_SIZE) {
      size = Math.min(MAX_LOG_SIZE, Math.max(needed, size * 2));
      continue;
    }
    if (log && log.trim() !== "")
      throw helperNotSupported(opts.type, log) ?? verifierError(opts.name ?? "", r.errno, log);
    // No verifier output: refused before verification, possibly for an unknown program type.
    if (MAYBE_UNSUPPORTED.has(r.errno)) {
      const unsupported = progTypeNotSupported(opts.type);
      if (unsupported) throw unsupported;
    }
    if (!level) {
      level = 1; // retry, this time to learn why
      continue;
    }
    throw new BpfError("BPF_PROG_LOAD", r.errno, opts.name ? `program ${opts.name}` : undefined);
  }
}

export class BpfProgram {
  readonly fd: number;
  readonly id: number;
  readonly type: number;
  readonly name: string;
  /** Hash of the program's instructions (16 hex digits), as bpftool shows it. */
  readonly tag: string;
  /** The verifier log, when the program was loaded with a log level. */
  verifierLog?: string;
  #closed = false;

  private constructor(fd: number, info: ProgramInfo) {
    this.fd = fd;
    this.id = info.id;
    this.type = info.type;
    this.name = info.name;
    this.tag = info.tag;
  }

  private static adopt(fd: number, log?: string): BpfProgram {
    try {
      const p = new BpfProgram(fd, programInfo(fd));
      if (log !== undefined) p.verifierLog = log;
      return p;
    } catch (e) {
      native().close(fd);
      throw e;
    }
  }

  /** Loads a program (synchronously: the verifier runs on this thread). */
  static load(opts: ProgramLoadOptions): BpfProgram {
    const steps = loadAttempts(opts);
    let s = steps.next();
    while (!s.done) s = steps.next(progLoadRaw(s.value));
    return BpfProgram.adopt(s.value.fd, s.value.log);
  }

  /** Loads a program on libuv's thread pool, leaving the event loop free while the verifier runs. */
  static async loadAsync(opts: ProgramLoadOptions): Promise<BpfProgram> {
    const steps = loadAttempts(opts);
    let s = steps.next();
    while (!s.done) s = steps.next(await progLoadRawAsync(s.value));
    return BpfProgram.adopt(s.value.fd, s.value.log);
  }

  /** Wraps a program fd, taking ownership of it. */
  static fromFd(fd: number): BpfProgram {
    const kind = fdKind(fd);
    if (kind !== "prog") {
      native().close(fd);
      throw new PlexusBpfError(`fd ${fd} is a ${kind}, not a bpf program`);
    }
    return BpfProgram.adopt(fd);
  }

  /** Opens a loaded program by its id (needs CAP_SYS_ADMIN). */
  static fromId(id: number): BpfProgram {
    return BpfProgram.fromFd(getFdById(BpfCmd.PROG_GET_FD_BY_ID, id));
  }

  /** Opens a program pinned on a bpffs. */
  static openPinned(path: string): BpfProgram {
    const fd = objGet(path); // programs only open read-write
    const kind = fdKind(fd);
    if (kind !== "prog") {
      native().close(fd);
      throw new PlexusBpfError(`${path} is a pinned ${kind}, not a program`);
    }
    return BpfProgram.adopt(fd);
  }

  /** Runs the program once (or `repeat` times) on the given packet and context (BPF_PROG_TEST_RUN). */
  testRun(opts: TestRunOptions = {}): TestRunResult {
    const dataOut = opts.data ? stableBuffer(opts.dataSizeOut ?? opts.data.length + 4096) : undefined;
    const ctxSize = opts.ctxSizeOut ?? opts.ctx?.length ?? 0;
    const ctxOut = ctxSize > 0 ? stableBuffer(ctxSize) : undefined;
    let r;
    try {
      r = progTestRun({
        progFd: this.fd,
        dataIn: opts.data,
        dataOut,
        ctxIn: opts.ctx,
        ctxOut,
        repeat: opts.repeat,
        flags: opts.flags,
        cpu: opts.cpu,
        batchSize: opts.batchSize,
      });
    } catch (e) {
      if (e instanceof BpfError && e.errno === ENOSPC)
        throw new BpfError(
          "BPF_PROG_TEST_RUN",
          ENOSPC,
          `the output did not fit: raise dataSizeOut (${dataOut?.length ?? 0}) or ctxSizeOut (${ctxSize})`,
        );
      throw e;
    }
    return {
      retval: r.retval,
      data: dataOut ? Buffer.from(dataOut.subarray(0, r.dataSizeOut)) : undefined,
      ctx: ctxOut ? Buffer.from(ctxOut.subarray(0, r.ctxSizeOut)) : undefined,
      durationNs: r.duration,
    };
  }

  /** BPF_OBJ_GET_INFO_BY_FD: ids, tag, sizes, map ids, run statistics... */
  info(): ProgramInfo {
    return programInfo(this.fd);
  }

  /** The instructions as the kernel runs them, after the verifier's rewrites (8 bytes a slot). */
  xlatedInstructions(): Buffer {
    return programXlated(this.fd);
  }

  /** The JIT's machine code. */
  jitedInstructions(): Buffer {
    return programJited(this.fd);
  }

  /** Pins the program on a bpffs. */
  pin(path: string): void {
    pinFd(this.fd, path);
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    native().close(this.fd);
  }
}
export { enableStats } from "./stats.js";
