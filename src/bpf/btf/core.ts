// CO-RE: resolves the .BTF.ext relocations of a code section against the target kernel's BTF
// and patches the instructions, as libbpf's bpf_object__relocate_core does.
import { BtfError, RelocationError } from "../errors.js";
import type { Instruction } from "../insn/instruction.js";
import type { Btf } from "./btf.js";
import { CoreCandidateCache, calcCoreRelocation } from "./core-calc.js";
import type { CoreRelocationResult } from "./core-calc.js";
import { CoreError } from "./core-error.js";
import { patchInstruction } from "./core-patch.js";
import { coreKindName } from "./core-spec.js";
import type { CoreRelo } from "./ext.js";

export interface CoreRelocationOptions {
  fileName?: string;
  /** ELF section the instructions come from (for messages). */
  section?: string;
  /** Share candidate lists across sections of one object, as libbpf does per object. */
  cache?: CoreCandidateCache;
}

export interface AppliedCoreRelocation {
  relo: CoreRelo;
  /** Index into the instructions array. */
  index: number;
  result: CoreRelocationResult;
}

/** Readable description of a relocation before its spec is known: `struct foo + 0:1:2`. */
function describe(local: Btf, relo: CoreRelo): string {
  let root: string;
  try {
    root = local.typeName(relo.typeId);
  } catch {
    root = `type [${relo.typeId}]`;
  }
  return `${root} (access ${relo.accessStr})`;
}

/**
 * Resolves one relocation to its values without touching instructions. Throws RelocationError
 * naming the access when it cannot be resolved.
 */
export function resolveCoreRelocation(
  relo: CoreRelo,
  local: Btf,
  target: Btf,
  opts: CoreRelocationOptions = {},
): CoreRelocationResult {
  try {
    return calcCoreRelocation(relo, local, target, opts.cache);
  } catch (e) {
    if (e instanceof CoreError || e instanceof BtfError) {
      const where = opts.section ? ` in ${opts.section}` : "";
      throw new RelocationError(
        `CO-RE relocation (${coreKindName(relo.kind)}) for ${describe(local, relo)}${where}: ${e.message}`,
        opts.fileName,
      );
    }
    throw e;
  }
}

/**
 * Applies CO-RE relocations to a decoded section: `indexAt` maps instruction slots (byte offset
 * / 8) to indexes in `instructions`. Instructions are patched in place; a relocation that finds
 * nothing poisons its instruction (`call 0xbad2310`), except existence checks, which become 0.
 */
export function applyCoreRelocations(
  instructions: Instruction[],
  indexAt: ReadonlyMap<number, number>,
  relos: readonly CoreRelo[],
  local: Btf,
  target: Btf,
  opts: CoreRelocationOptions = {},
): AppliedCoreRelocation[] {
  const cache = opts.cache ?? new CoreCandidateCache();
  const where = opts.section ? ` in ${opts.section}` : "";
  return relos.map((relo, i) => {
    const slot = relo.insnOff / 8;
    const index = Number.isInteger(slot) ? indexAt.get(slot) : undefined;
    if (index === undefined || instructions[index] === undefined)
      throw new RelocationError(
        `CO-RE relocation #${i} (${coreKindName(relo.kind)}) for ${describe(local, relo)}${where}: ` +
          `offset ${relo.insnOff} is not the start of an instruction`,
        opts.fileName,
      );
    const result = resolveCoreRelocation(relo, local, target, { ...opts, cache });
    try {
      patchInstruction(instructions[index], result);
    } catch (e) {
      if (!(e instanceof CoreError)) throw e;
      throw new RelocationError(
        `CO-RE relocation #${i} (${coreKindName(relo.kind)}) for ${result.local}${where}, instruction ${index}: ${e.message}`,
        opts.fileName,
      );
    }
    return { relo, index, result };
  });
}
