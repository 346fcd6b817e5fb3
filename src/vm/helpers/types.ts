// What a helper implementation is: a function of the helper environment (arguments, memory,
// the run in progress) that returns r0, with the contexts it may be called from.
import type { ContextKind } from "../prepare.js";
import type { HelperEnv } from "./env.js";

export type HelperFn = (env: HelperEnv) => number | bigint;

export interface HelperDef {
  id: number;
  name: string;
  fn: HelperFn;
  /** Contexts the helper may be called from (all when absent). */
  contexts?: readonly ContextKind[];
  /** The helper may change the packet's bounds (the JIT reloads them after the call). */
  changesPacket?: boolean;
}

/** A set of helpers by id: the Linux ones, or the bpf_conformance test helpers. */
export type HelperSet = ReadonlyMap<number, HelperDef>;
