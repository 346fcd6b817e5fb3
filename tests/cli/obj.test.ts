// plexus obj inspect / disasm: what users see of an object file.
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { plexus } from "../helpers/cli.js";
import { fixture } from "../helpers/fixtures.js";

describe("plexus obj inspect", () => {
  test("--json lists programs, maps, variables and relocations", async () => {
    const r = plexus(["obj", "inspect", await fixture("obj_globals"), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout);
    assert.deepEqual(
      d.programs.map((p: { name: string; type: string }) => [p.name, p.type]),
      [
        ["globals", "xdp"],
        ["strings", "xdp"],
      ],
    );
    assert.ok(d.programs[0].instructions > 10);
    assert.ok(
      d.maps.some((m: { name: string; type: string }) => m.name.endsWith(".rodata") && m.type === "array"),
    );
    assert.ok(
      d.variables.some((v: { name: string; constant: boolean }) => v.name === "ret_base" && v.constant),
    );
    assert.equal(d.kconfig.length, 3);
    assert.ok(d.relocations.globalData > 0);
    assert.ok(d.sections.some((s: { name: string }) => s.name === ".BTF"));
  });

  test("table output names maps with their pinning", async () => {
    const r = plexus(["obj", "inspect", await fixture("obj_maps")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /pinned_counts\s+hash\s+4\s+8\s+8\s+0x0\s+by-name/);
    assert.match(r.stdout, /use_all_maps\s+xdp\s+xdp\s+xdp\s+\d+\s+yes/);
  });

  test("legacy section names need --type; the error says so", async () => {
    const obj = await fixture("obj_optional");
    const bad = plexus(["obj", "inspect", obj]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /section 'prog'.*explicitly/);
    const ok = plexus(["obj", "inspect", obj, "--type", "prog=xdp", "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(
      JSON.parse(ok.stdout).programs.find((p: { name: string }) => p.name === "on_demand").autoload,
      false,
    );
  });

  test("bad files: missing, not ELF, truncated", async () => {
    const dir = mkdtempSync(join(tmpdir(), "px-cli-"));
    try {
      const missing = plexus(["obj", "inspect", join(dir, "nope.o")]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /nope\.o.*cannot read/);
      writeFileSync(join(dir, "text.o"), "hello, this is not an object file at all");
      const notElf = plexus(["obj", "inspect", join(dir, "text.o")]);
      assert.equal(notElf.code, 1);
      assert.match(notElf.stderr, /text\.o: .*ELF/);
      const bad = plexus(["obj", "inspect"]);
      assert.equal(bad.code, 2, "missing argument is a usage error");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("plexus obj disasm", () => {
  test("prints every program linked with its subprograms", async () => {
    const r = plexus(["obj", "disasm", await fixture("obj_calls"), "--prog", "calls_tc"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /calls_tc \(section tc\)/);
    assert.match(r.stdout, /call -?\d+|call 0x/);
    assert.match(r.stdout, /exit/);
    const unknown = plexus(["obj", "disasm", await fixture("obj_calls"), "--prog", "nope"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no program 'nope' \(programs: calls, calls_tc\)/);
  });
});
