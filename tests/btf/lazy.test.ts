// Lazy BTF: parse validates and indexes, types are decoded on first use, name lookups read the
// raw string table. What must hold: loads touch a small part of the kernel's BTF, lookups agree
// with a scan of every decoded type, and corrupt input is still reported, at parse or on use.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Btf, essentialName, VMLINUX_BTF_PATH } from "../../src/bpf/btf/index.js";
import type { BtfComposite, BtfType } from "../../src/bpf/btf/index.js";
import { BtfError } from "../../src/bpf/errors.js";
import { BpfObject } from "../../src/bpf/object/object.js";
import { compileFixture } from "./helpers.js";

const vmlinux = readFileSync(VMLINUX_BTF_PATH);

test("a CO-RE object loads against lazily parsed vmlinux BTF, decoding a few dozen of its types", async () => {
  const { path } = await compileFixture("obj_core.c", true);
  const target = Btf.parse(vmlinux, { fileName: VMLINUX_BTF_PATH, lazy: true });
  assert.equal(target.decodedTypeCount, 0, "parse decodes nothing");
  assert.ok(target.typeCount > 10_000);
  const loaded = await BpfObject.open(path, { coreTarget: () => target }).load();
  try {
    assert.ok(loaded.programs.size > 0);
  } finally {
    loaded.close();
  }
  const decoded = target.decodedTypeCount;
  console.log(`# obj_core decoded ${decoded} of ${target.typeCount} vmlinux types`);
  assert.ok(decoded > 0 && decoded < 200, `${decoded} types decoded`);
});

/** Type ids by name, from a scan of every decoded type. */
function indexBy(all: readonly BtfType[], key: (name: string) => string): Map<string, number[]> {
  const index = new Map<string, number[]>();
  for (const t of all) {
    if (t.name === "") continue;
    const k = key(t.name);
    const list = index.get(k);
    if (list) list.push(t.id);
    else index.set(k, [t.id]);
  }
  return index;
}

test("name lookups from the raw string table agree with a scan of every type", () => {
  const lazy = Btf.parse(vmlinux, { lazy: true });
  const all = Btf.parse(vmlinux).types;
  const byName = indexBy(all, (n) => n);
  const byEssential = indexBy(all, essentialName);
  // Every 37th name, names sharing long prefixes, short names, missing names and flavors.
  const names = [...byName.keys()].filter((_, i) => i % 37 === 0);
  names.push("sk_buff", "sk_buff_head", "int", "u8", "a", "_", "__u32", "no_such_type_px");
  names.push("sk_buff___px", "task_struct___a___b", "u8___x", "a___b", "xdp_md___");
  const ids = (ts: readonly BtfType[]) => ts.map((t) => t.id);
  const ofKinds = (list: number[] | undefined, kinds: string[]) =>
    (list ?? []).filter((id) => kinds.includes(all[id].kind));
  // Lookups of some kinds first (CO-RE's: no functions), then of every kind (functions too).
  for (const name of names) {
    const kind = all[byName.get(name)?.[0] ?? 0].kind;
    assert.deepEqual(
      ids(lazy.typesByName(name, kind)),
      ofKinds(byName.get(name), [kind]),
      `${name} (${kind})`,
    );
    assert.deepEqual(
      ids(lazy.typesByEssentialName(name, ["struct", "union", "func"])),
      ofKinds(byEssential.get(essentialName(name)), ["struct", "union", "func"]),
    );
  }
  for (const name of names) {
    assert.deepEqual(
      lazy.typesByName(name).map((t) => t.id),
      byName.get(name) ?? [],
      `typesByName(${name})`,
    );
    assert.deepEqual(
      lazy.typesByEssentialName(name).map((t) => t.id),
      byEssential.get(essentialName(name)) ?? [],
      `typesByEssentialName(${name})`,
    );
  }
  // A flavored name in the table is found by its essential name and by its own name.
  const flavored = all.find((t) => essentialName(t.name) !== t.name);
  if (flavored) {
    assert.ok(lazy.typesByEssentialName(essentialName(flavored.name)).some((t) => t.id === flavored.id));
    assert.ok(lazy.typesByName(flavored.name).some((t) => t.id === flavored.id));
  }
  assert.ok(lazy.decodedTypeCount < all.length / 2, "lookups decode only what they return");
});

test("built, parsed and split BTF answer essential-name lookups too", () => {
  const built = new Btf([
    {
      id: 1,
      name: "int",
      kind: "int",
      size: 4,
      signed: true,
      char: false,
      bool: false,
      bitOffset: 0,
      bits: 32,
    },
    { id: 2, name: "foo", kind: "struct", size: 0, members: [] },
    { id: 3, name: "foo___v2", kind: "struct", size: 0, members: [] },
    { id: 4, name: "foo___v2___x", kind: "typedef", type: 3 },
    { id: 5, name: "fo", kind: "typedef", type: 1 },
    { id: 6, name: "foobar", kind: "typedef", type: 1 },
  ]);
  // Built types are looked up by name strings, parsed ones in the raw string table.
  for (const btf of [built, Btf.parse(built.marshal()), Btf.parse(built.marshal(), { lazy: true })]) {
    const ids = (ts: readonly BtfType[]) => ts.map((t) => t.id);
    assert.deepEqual(ids(btf.typesByEssentialName("foo___local")), [2, 3]);
    assert.deepEqual(ids(btf.typesByEssentialName("foo")), [2, 3]);
    assert.deepEqual(ids(btf.typesByEssentialName("foo___v2___y")), [4]);
    assert.deepEqual(ids(btf.typesByName("foo___v2")), [3]);
    assert.deepEqual(ids(btf.typesByName("foo")), [2]);
    assert.deepEqual(ids(btf.typesByName("fo")), [5]);
    assert.deepEqual(ids(btf.typesByName("")), []);
  }
  const base = Btf.parse(vmlinux, { lazy: true });
  const own: BtfType[] = [{ id: base.typeCount, name: "sk_buff___px", kind: "struct", size: 0, members: [] }];
  const split = Btf.parse(new Btf(own, { base }).marshal(), { base, lazy: true });
  const ids = split.typesByEssentialName("sk_buff").map((t) => t.id);
  assert.deepEqual(ids, [...base.typesByName("sk_buff").map((t) => t.id), base.typeCount]);
});

/** Offset in the blob of the record of own type `id` (walks the records as the kernel lays them out). */
function recordOffset(buf: Buffer, id: number): number {
  const hdr = buf.readUInt32LE(4);
  let at = hdr + buf.readUInt32LE(8);
  const extra = [0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 4, 0, 0];
  const perVlen = [0, 0, 0, 0, 12, 12, 8, 0, 0, 0, 0, 0, 0, 8, 0, 12, 0, 0, 0, 12];
  for (let i = 1; i < id; i++) {
    const info = buf.readUInt32LE(at + 4);
    const k = (info >>> 24) & 0x1f;
    at += 12 + extra[k] + (info & 0xffff) * perVlen[k];
  }
  return at;
}

test("corrupt types far into the kernel's BTF: lazy parse reports them when they are used", () => {
  const eager = Btf.parse(vmlinux);
  // The last struct with members: near the end of the blob.
  let victim = eager.typeCount - 1;
  while (
    eager.typeById(victim).kind !== "struct" ||
    (eager.typeById(victim) as BtfComposite).members.length < 2
  )
    victim--;
  const at = recordOffset(vmlinux, victim);
  const strLen = vmlinux.readUInt32LE(20);

  const badName = Buffer.from(vmlinux);
  badName.writeUInt32LE(strLen + 100, at + 12 + 12); // second member's name offset
  const nameMsg = new RegExp(`member of BTF type ${victim}: name offset ${strLen + 100} is outside`);
  assert.throws(
    () => Btf.parse(badName, { fileName: "bad.btf" }),
    (e) => e instanceof BtfError && nameMsg.test(e.message),
  );
  const lazyName = Btf.parse(badName, { fileName: "bad.btf", lazy: true });
  assert.throws(
    () => lazyName.typeById(victim),
    (e) => e instanceof BtfError && nameMsg.test(e.message),
  );
  assert.throws(() => lazyName.typeByName(eager.typeById(victim).name), BtfError);
  assert.equal(lazyName.typeById(victim - 1).id, victim - 1, "other types still decode");

  const badRef = Buffer.from(vmlinux);
  badRef.writeUInt32LE(eager.typeCount + 5, at + 12 + 4); // first member's type
  const refMsg = new RegExp(
    `BTF type ${victim} refers to type ${eager.typeCount + 5}, but the last type id is ${eager.typeCount - 1}`,
  );
  assert.throws(
    () => Btf.parse(badRef),
    (e) => e instanceof BtfError && refMsg.test(e.message),
  );
  const lazyRef = Btf.parse(badRef, { lazy: true });
  assert.throws(
    () => lazyRef.typeById(victim),
    (e) => e instanceof BtfError && refMsg.test(e.message),
  );
  assert.throws(() => lazyRef.types, BtfError, "decoding everything reports it too");

  // The header of a type far in: its name, and the type a pointer points to.
  let ptr = eager.typeCount - 1;
  while (eager.typeById(ptr).kind !== "ptr") ptr--;
  const ptrAt = recordOffset(vmlinux, ptr);
  const badPtr = Buffer.from(vmlinux);
  badPtr.writeUInt32LE(eager.typeCount, ptrAt + 8);
  const ptrMsg = new RegExp(`BTF type ${ptr} refers to type ${eager.typeCount}, but the last type id is`);
  assert.throws(
    () => Btf.parse(badPtr),
    (e) => e instanceof BtfError && ptrMsg.test(e.message),
  );
  const lazyPtr = Btf.parse(badPtr, { lazy: true });
  assert.throws(
    () => lazyPtr.typeById(ptr),
    (e) => e instanceof BtfError && ptrMsg.test(e.message),
  );
  assert.equal(lazyPtr.typeById(ptr - 1).id, ptr - 1);
  const badTypeName = Buffer.from(vmlinux);
  badTypeName.writeUInt32LE(strLen, at);
  const typeNameMsg = new RegExp(`BTF type ${victim} \\(struct\\): name offset ${strLen} is outside`);
  assert.throws(
    () => Btf.parse(badTypeName),
    (e) => e instanceof BtfError && typeNameMsg.test(e.message),
  );
  const lazyTypeName = Btf.parse(badTypeName, { lazy: true });
  assert.throws(
    () => lazyTypeName.typeById(victim),
    (e) => e instanceof BtfError && typeNameMsg.test(e.message),
  );

  // What finding the records needs is checked at parse even when lazy: an unknown kind in the
  // very last type, a truncated last record.
  const badKind = Buffer.from(vmlinux);
  const last = eager.typeCount - 1;
  const lastAt = recordOffset(vmlinux, last);
  badKind.writeUInt32LE((badKind.readUInt32LE(lastAt + 4) & 0xe0ffffff) | (25 << 24), lastAt + 4);
  assert.throws(
    () => Btf.parse(badKind, { lazy: true }),
    (e) => e instanceof BtfError && new RegExp(`BTF type ${last} has unknown kind 25`).test(e.message),
  );
  const truncated = Buffer.from(vmlinux);
  truncated.writeUInt32LE(truncated.readUInt32LE(12) - 4, 12); // the type section loses a word
  assert.throws(
    () => Btf.parse(truncated, { lazy: true }),
    (e) => e instanceof BtfError && new RegExp(`BTF type ${last} is truncated`).test(e.message),
  );
});
