// The rig's eBPF programs live next to this library as C (bench/rig/*.c) and are compiled with the
// project's one set of flags, cached by content.
import { join } from "node:path";
import { BpfObject } from "../../src/bpf/object/object.js";
import type { LoadedObject } from "../../src/bpf/object/load.js";
import type { VariableValue } from "../../src/bpf/object/variables.js";
import { compileBpf, projectRoot } from "../../src/build/compile-bpf.js";

export type RigProgramFile = "rig_gen" | "rig_sink" | "rig_dut";

export const rigSource = (name: RigProgramFile): string => join(projectRoot, "bench", "rig", `${name}.c`);

/** Compiles (or finds in the cache) and loads one of the rig's objects, with constants set first. */
export async function loadRigObject(
  name: RigProgramFile,
  constants: Record<string, VariableValue> = {},
): Promise<LoadedObject> {
  const obj = BpfObject.open(await compileBpf(rigSource(name)));
  for (const [k, v] of Object.entries(constants)) obj.setConstant(k, v);
  return obj.load();
}
