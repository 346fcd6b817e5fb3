// Running one program of an object file in the userspace runtime, for the command line
// (plexus prog run --engine interp|jit, plexus vm trace): open, load, fill maps, run.
import { readFileSync } from "node:fs";
import { PlexusBpfError } from "../bpf/errors.js";
import { BpfObject } from "../bpf/object/object.js";
import type { OpenOptions } from "../bpf/object/open.js";
import "./jit/engine.js";
import type { Tracer } from "./interp.js";
import type { VmObject } from "./object.js";
import type { EngineName, VmRunResult } from "./vm.js";
import { Vm } from "./vm.js";

export interface CliRunOptions {
  file: string;
  prog: string;
  open?: OpenOptions;
  data: Buffer;
  ctx?: Buffer;
  repeat?: number;
  maps?: { map: string; key: Buffer; value: Buffer }[];
  engine: EngineName;
  tracer?: Tracer;
  printk?: (line: string) => void;
}

/** Loads the object's autoload programs and the one asked for, fills the maps, runs it once. */
export function runInVm(o: CliRunOptions): { result: VmRunResult; progType: number; obj: VmObject } {
  const spec = BpfObject.open(o.file, o.open).spec;
  const ps = spec.programs.get(o.prog);
  if (!ps)
    throw new PlexusBpfError(
      `${o.file}: no program '${o.prog}' (programs: ${[...spec.programs.keys()].join(", ")})`,
    );
  const vm = new Vm({ engine: o.engine, ...(o.printk ? { printk: o.printk } : {}) });
  const wanted = [
    ...new Set([...[...spec.programs.values()].filter((p) => p.autoload).map((p) => p.name), o.prog]),
  ];
  // Programs of types the runtime cannot run are skipped, unless it is the one asked for.
  const runnable = wanted.filter(
    (n) => n === o.prog || [1, 3, 4, 6].includes(spec.programs.get(n)?.type ?? 0),
  );
  const obj = vm.loadObject(spec, { programs: runnable });
  for (const f of o.maps ?? []) {
    const m = obj.map(f.map);
    if (f.key.length !== m.keySize || f.value.length !== m.valueBufferSize)
      throw new PlexusBpfError(
        `--map ${f.map}: key/value of ${f.key.length}/${f.value.length} bytes, the map wants ${m.keySize}/${m.valueBufferSize}`,
      );
    m.update(f.key, f.value);
  }
  const result = vm.run(
    obj.program(o.prog),
    { data: o.data, ...(o.ctx ? { ctx: o.ctx } : {}), repeat: o.repeat ?? 1 },
    { engine: o.engine, ...(o.tracer ? { tracer: o.tracer } : {}) },
  );
  return { result, progType: ps.type, obj };
}

export const readPacket = (hex: string | undefined, file: string | undefined): Buffer | undefined =>
  hex !== undefined ? Buffer.from(hex, "hex") : file !== undefined ? readFileSync(file) : undefined;
