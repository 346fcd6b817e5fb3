// C-like spelling of BTF types, built declarator-style so that pointers to arrays and functions
// come out as C writes them: `char (*)[16]`, `int (*)(void *)`.
import type { Btf } from "./btf.js";

const MAX_DEPTH = 64;
/** Types visited per name: cyclic BTF through function parameters could otherwise branch exponentially. */
const MAX_NODES = 4096;

/** Joins a base type and a declarator: `int` + `*` -> `int *`, `char` + `[4]` -> `char[4]`. */
const join = (base: string, declarator: string) =>
  declarator === "" ? base : declarator.startsWith("[") ? base + declarator : `${base} ${declarator}`;

/** Declarator that binds tighter than `*` needs parentheses around a pointer declarator. */
const wrap = (declarator: string) => (declarator.startsWith("*") ? `(${declarator})` : declarator);

export function formatType(
  btf: Btf,
  id: number,
  declarator = "",
  depth = 0,
  budget = { nodes: MAX_NODES },
): string {
  if (depth > MAX_DEPTH || --budget.nodes < 0) return join("...", declarator);
  if (!btf.hasType(id)) return join(`<bad type ${id}>`, declarator);
  const t = btf.typeById(id);
  const next = (tid: number, decl: string) => formatType(btf, tid, decl, depth + 1, budget);
  switch (t.kind) {
    case "void":
      return join("void", declarator);
    case "int":
    case "float":
    case "typedef":
      return join(t.name || `<anon ${t.kind}>`, declarator);
    case "struct":
    case "union":
      return join(`${t.kind} ${t.name || "{...}"}`, declarator);
    case "enum":
    case "enum64":
      return join(`enum ${t.name || "{...}"}`, declarator);
    case "fwd":
      return join(`${t.union ? "union" : "struct"} ${t.name}`, declarator);
    case "ptr":
      return next(t.type, `*${declarator}`);
    case "const":
    case "volatile":
    case "restrict": {
      // A qualified pointer is written after the star (`char *const`), anything else before.
      if (btf.hasType(t.type) && btf.typeById(t.type).kind === "ptr")
        return next(t.type, declarator ? `${t.kind} ${declarator}` : t.kind);
      return `${t.kind} ${next(t.type, declarator)}`;
    }
    case "type_tag":
      return next(t.type, declarator); // annotations such as __user do not change the C type
    case "array":
      return next(t.type, `${wrap(declarator)}[${t.nelems}]`);
    case "func_proto": {
      const params = t.params.map((p) =>
        p.type === 0 && p.name === "" ? "..." : formatType(btf, p.type, p.name, depth + 1, budget),
      );
      return next(t.returnType, `${wrap(declarator)}(${params.length ? params.join(", ") : "void"})`);
    }
    case "func":
      return next(t.type, t.name + declarator);
    case "var":
      return next(t.type, t.name + declarator);
    case "datasec":
      return `SEC("${t.name}")`;
    case "decl_tag":
      return `__attribute__((btf_decl_tag("${t.name}")))`;
  }
}
