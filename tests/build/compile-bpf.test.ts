import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CompileError, compileBpf } from "../../src/build/compile-bpf.js";

test("compileBpf builds an ELF object for the BPF machine and caches it by content", async () => {
  const dir = mkdtempSync(join(tmpdir(), "px-build-"));
  try {
    writeFileSync(join(dir, "inc.h"), "#define RET 2\n");
    const src = join(dir, "p.c");
    writeFileSync(
      src,
      '#include <linux/bpf.h>\n#include "inc.h"\n__attribute__((section("xdp"), used)) int f(struct xdp_md *c) { return RET; }\n',
    );
    const obj = await compileBpf(src);
    const elf = readFileSync(obj);
    assert.equal(elf.subarray(0, 4).toString("latin1"), "\x7fELF");
    assert.equal(elf.readUInt16LE(18), 247, "e_machine is EM_BPF");
    const mtime = statSync(obj).mtimeMs;
    assert.equal(await compileBpf(src), obj, "same content, same cached object");
    assert.equal(statSync(obj).mtimeMs, mtime, "not recompiled");
    writeFileSync(join(dir, "inc.h"), "#define RET 1\n");
    assert.notEqual(await compileBpf(src), obj, "a changed header changes the cache key");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("compileBpf reports clang's diagnostics with the file name", async () => {
  const dir = mkdtempSync(join(tmpdir(), "px-build-"));
  try {
    const src = join(dir, "bad.c");
    writeFileSync(src, "int f(void) { return undefined_symbol; }\n");
    await assert.rejects(compileBpf(src), (e: unknown) => {
      assert.ok(e instanceof CompileError);
      assert.match(e.message, /bad\.c/);
      assert.match(e.message, /undefined_symbol/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
