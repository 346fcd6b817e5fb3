// plexus obj inspect|disasm: what an eBPF object holds, without loading it (bpftool's view of a file).
import type { Command } from "commander";
import { attachTypeName, mapTypeName, progTypeName } from "../../bpf/constants.js";
import { disassemble } from "../../bpf/insn/index.js";
import { ElfFile } from "../../bpf/elf/index.js";
import { slotCount } from "../../bpf/insn/index.js";
import { BpfObject } from "../../bpf/object/object.js";
import type { ObjectSpec } from "../../bpf/object/spec.js";
import { readFileSync } from "node:fs";
import { hex, json, table } from "../output.js";
import { objectOpenOptions, typeOption } from "./options.js";

export interface ObjectDescription {
  file: string;
  license: string;
  sections: { index: number; name: string; type: number; flags: number; size: number }[];
  programs: {
    name: string;
    section: string;
    type: string;
    attachType: string;
    instructions: number;
    autoload: boolean;
    functions: string[];
  }[];
  maps: {
    name: string;
    type: string;
    keySize: number;
    valueSize: number;
    maxEntries: number;
    flags: number;
    pinning: string;
    origin: string;
    innerMap?: string;
    initialSlots?: Record<string, string>;
  }[];
  variables: { name: string; map: string; offset: number; size: number; constant: boolean }[];
  kconfig: { name: string; offset: number; size: number; weak: boolean }[];
  relocations: ObjectSpec["relocations"];
}

export function describeObject(path: string, spec: ObjectSpec): ObjectDescription {
  const elf = ElfFile.parse(readFileSync(path), path);
  return {
    file: path,
    license: spec.license,
    sections: elf.sections
      .filter((s) => s.index > 0)
      .map((s) => ({ index: s.index, name: s.name, type: s.type, flags: s.flags, size: s.size })),
    programs: [...spec.programs.values()].map((p) => ({
      name: p.name,
      section: p.section,
      type: progTypeName(p.type),
      attachType: p.expectedAttachType ? attachTypeName(p.expectedAttachType) : "",
      instructions: slotCount(p.instructions),
      autoload: p.autoload,
      functions: p.functions,
    })),
    maps: [...spec.maps.values()].map((m) => ({
      name: m.name,
      type: mapTypeName(m.type),
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      flags: m.flags,
      pinning: m.pinning,
      origin: m.origin,
      ...(m.innerMap
        ? {
            innerMap: `${mapTypeName(m.innerMap.type)} ${m.innerMap.keySize}/${m.innerMap.valueSize}x${m.innerMap.maxEntries}`,
          }
        : {}),
      ...(m.initialSlots.size ? { initialSlots: Object.fromEntries(m.initialSlots) } : {}),
    })),
    variables: [...spec.variables.values()].map((v) => ({
      name: v.name,
      map: v.map,
      offset: v.offset,
      size: v.size,
      constant: v.constant,
    })),
    kconfig: spec.kconfig.map((k) => ({ name: k.name, offset: k.offset, size: k.size, weak: k.weak })),
    relocations: spec.relocations,
  };
}

function printDescription(d: ObjectDescription): string {
  const out: string[] = [`${d.file}: license "${d.license}"`, "", "Programs:"];
  out.push(
    table(
      ["NAME", "SECTION", "TYPE", "ATTACH", "INSNS", "LOAD", "FUNCTIONS"],
      d.programs.map((p) => [
        p.name,
        p.section,
        p.type,
        p.attachType || "-",
        p.instructions,
        p.autoload ? "yes" : "no",
        p.functions.join(","),
      ]),
    ),
    "",
    "Maps:",
    table(
      ["NAME", "TYPE", "KEY", "VALUE", "MAX", "FLAGS", "PINNING", "FROM"],
      d.maps.map((m) => [
        m.name,
        m.type,
        m.keySize,
        m.valueSize,
        m.maxEntries,
        hex(m.flags),
        m.pinning,
        m.origin,
      ]),
    ),
  );
  if (d.variables.length) {
    out.push(
      "",
      "Global variables:",
      table(
        ["NAME", "MAP", "OFFSET", "SIZE", "CONST"],
        d.variables.map((v) => [v.name, v.map, v.offset, v.size, v.constant ? "yes" : "no"]),
      ),
    );
  }
  if (d.kconfig.length) {
    out.push(
      "",
      "Kconfig externs:",
      table(
        ["NAME", "OFFSET", "SIZE", "WEAK"],
        d.kconfig.map((k) => [k.name, k.offset, k.size, k.weak ? "yes" : "no"]),
      ),
    );
  }
  const r = d.relocations;
  out.push(
    "",
    `Relocations: ${r.maps} map, ${r.globalData} global data, ${r.calls} call, ${r.funcAddresses} function address, ${r.core} CO-RE, ${r.externs} extern`,
    "",
    "Sections:",
    table(
      ["IDX", "NAME", "TYPE", "FLAGS", "SIZE"],
      d.sections.map((s) => [s.index, s.name, s.type, hex(s.flags), s.size]),
    ),
  );
  return out.join("\n");
}

export function registerObjCommands(program: Command): void {
  const obj = program.command("obj").description("inspect eBPF object files (ELF) without loading them");

  typeOption(
    obj
      .command("inspect")
      .argument("<file>", "eBPF object file (clang -target bpf)")
      .option("--json", "machine-readable output")
      .description("sections, programs, maps, global variables and relocations of an object")
      .addHelpText(
        "after",
        "\nExamples:\n  plexus obj inspect xdp_counter.o\n  plexus obj inspect prog.o --json | jq .maps",
      ),
  ).action((file: string, o: { json?: boolean; type?: string[] }) => {
    const spec = BpfObject.open(file, objectOpenOptions(o)).spec;
    const d = describeObject(file, spec);
    process.stdout.write(`${o.json ? json(d) : printDescription(d)}\n`);
  });

  typeOption(
    obj
      .command("disasm")
      .argument("<file>", "eBPF object file")
      .option("--prog <name>", "only this program")
      .description("disassemble programs (linked with their subprograms) in llvm-objdump's syntax")
      .addHelpText(
        "after",
        "\nExamples:\n  plexus obj disasm xdp_counter.o\n  plexus obj disasm prog.o --prog xdp_count",
      ),
  ).action((file: string, o: { prog?: string; type?: string[] }) => {
    const obj = BpfObject.open(file, objectOpenOptions(o));
    const progs = o.prog ? [obj.program(o.prog)] : [...obj.spec.programs.values()];
    const out = progs.map((p) => `${p.name} (section ${p.section}):\n${disassemble(p.instructions)}`);
    process.stdout.write(`${out.join("\n\n")}\n`);
  });
}
