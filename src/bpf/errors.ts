// Typed errors of plexus/bpf. Every error says what failed and, where it can, what to do.
import { errnoMessage, errnoName } from "./sys/errno.js";

/** Base class of all errors thrown by plexus/bpf. */
export class PlexusBpfError extends Error {
  override name = "PlexusBpfError";
}

/** A bpf(2) (or related) system call failed. */
export class BpfError extends PlexusBpfError {
  override name = "BpfError";
  readonly errnoName: string;
  constructor(
    readonly command: string,
    readonly errno: number,
    detail?: string,
  ) {
    super(`${command}: ${errnoName(errno)} (${errnoMessage(errno)})${detail ? `: ${detail}` : ""}`);
    this.errnoName = errnoName(errno);
  }
}

/** The kernel lacks a feature (map type, program type, helper, link type). */
export class NotSupportedError extends PlexusBpfError {
  override name = "NotSupportedError";
  constructor(
    readonly feature: string,
    detail?: string,
  ) {
    super(`${feature} is not supported by this kernel${detail ? `: ${detail}` : ""}`);
  }
}

/** The verifier rejected a program. `log` is the full verifier log. */
export class VerifierError extends PlexusBpfError {
  override name = "VerifierError";
  constructor(
    readonly program: string,
    readonly errno: number,
    readonly log: string,
    /** Index of the failing instruction, when the log names it. */
    readonly instruction: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** An object file (ELF, BTF, sections) is malformed or not usable. */
export class ObjectFileError extends PlexusBpfError {
  override name = "ObjectFileError";
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message);
  }
}

/** ELF-level problem: wrong class/endianness/machine, truncation, corrupt tables. */
export class ElfError extends ObjectFileError {
  override name = "ElfError";
}

/** BTF or BTF.ext is malformed, or a type lookup failed. */
export class BtfError extends ObjectFileError {
  override name = "BtfError";
}

/** A relocation (map, call, CO-RE, extern) could not be resolved. */
export class RelocationError extends ObjectFileError {
  override name = "RelocationError";
}

/** Assembler input (text or builder) is invalid. */
export class AsmError extends PlexusBpfError {
  override name = "AsmError";
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(line !== undefined ? `line ${line}: ${message}` : message);
  }
}

/** Raw instruction bytes are malformed (length, truncated lddw, reserved fields), or an instruction is invalid. */
export class InsnError extends PlexusBpfError {
  override name = "InsnError";
  constructor(
    message: string,
    /** The 8-byte slot the problem is at, when known. */
    readonly slot?: number,
  ) {
    super(slot !== undefined ? `slot ${slot}: ${message}` : message);
  }
}

/** A pinned object exists but does not match what was asked for. */
export class PinError extends PlexusBpfError {
  override name = "PinError";
}

/** A netlink request failed. */
export class NetlinkError extends PlexusBpfError {
  override name = "NetlinkError";
  constructor(
    readonly operation: string,
    readonly errno: number,
    readonly extack?: string,
  ) {
    super(`${operation}: ${errnoName(errno)} (${errnoMessage(errno)})${extack ? `: ${extack}` : ""}`);
  }
}

/** The userspace runtime (plexus/vm) refused a program or object at load time. */
export class VmLoadError extends PlexusBpfError {
  override name = "VmLoadError";
  constructor(
    readonly program: string,
    /** Index of the offending instruction, when one is to blame. */
    readonly instruction: number | undefined,
    message: string,
  ) {
    super(`${program}${instruction !== undefined ? `: instruction ${instruction}` : ""}: ${message}`);
  }
}

/** What stopped a run of the userspace runtime. */
export type VmFaultKind =
  "memory" | "budget" | "call-depth" | "helper" | "division" | "unreleased-reference" | "internal";

/**
 * A program run of the userspace runtime stopped: a memory access outside the regions the program
 * may touch, an exhausted instruction budget, a bad helper argument... The host is never affected.
 */
export class VmFault extends PlexusBpfError {
  override name = "VmFault";
  constructor(
    readonly kind: VmFaultKind,
    readonly program: string,
    /** Instruction index in the program's linked instructions (-1 when unknown). */
    readonly instruction: number,
    message: string,
    /** memory faults: the address, access size, direction and the region nearest to it. */
    readonly access?: { address: bigint; size: number; write: boolean; region: string },
  ) {
    super(`${program}: instruction ${instruction}: ${message}`);
  }
}
