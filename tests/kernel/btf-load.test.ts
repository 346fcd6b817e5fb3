// BPF_BTF_LOAD: a blob the kernel accepts, one it rejects (with its log), and maps that use it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MapType } from "../../src/bpf/constants.js";
import { BpfError } from "../../src/bpf/errors.js";
import { btfFromId, btfInfo, loadBtf } from "../../src/bpf/btf-kernel.js";
import { BpfMap } from "../../src/bpf/map/map.js";
import { btfIds } from "../../src/bpf/sys/ids.js";

/** BTF with [1] `int` (4 bytes, signed) and [2] `struct pair { int a; int b; }`, or a broken int. */
function blob(opts: { intBits?: number } = {}): Buffer {
  const strings = Buffer.from("\0int\0pair\0a\0b\0", "latin1");
  const t = Buffer.alloc(16 + 12 + 2 * 12);
  t.writeUInt32LE(1, 0); // "int"
  t.writeUInt32LE(1 << 24, 4); // INT
  t.writeUInt32LE(4, 8);
  t.writeUInt32LE((1 << 24) | (opts.intBits ?? 32), 12); // SIGNED, bits
  t.writeUInt32LE(5, 16); // "pair"
  t.writeUInt32LE((4 << 24) | 2, 20); // STRUCT, 2 members
  t.writeUInt32LE(8, 24);
  for (const [i, name, off] of [
    [0, 10, 0],
    [1, 12, 32],
  ]) {
    t.writeUInt32LE(name, 28 + i * 12);
    t.writeUInt32LE(1, 32 + i * 12);
    t.writeUInt32LE(off, 36 + i * 12);
  }
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0);
  hdr.writeUInt8(1, 2);
  hdr.writeUInt32LE(24, 4);
  hdr.writeUInt32LE(0, 8);
  hdr.writeUInt32LE(t.length, 12);
  hdr.writeUInt32LE(t.length, 16);
  hdr.writeUInt32LE(strings.length, 20);
  return Buffer.concat([hdr, t, strings]);
}

test("loadBtf gives an fd and id; maps created with it carry the BTF ids", () => {
  const btf = loadBtf(blob());
  try {
    assert.ok(btf.fd > 0 && btf.id > 0);
    assert.equal(btfInfo(btf.fd).id, btf.id);
    const m = BpfMap.create({
      type: MapType.HASH,
      keySize: 4,
      valueSize: 8,
      maxEntries: 4,
      btfFd: btf.fd,
      btfKeyTypeId: 1,
      btfValueTypeId: 2,
    });
    try {
      const info = m.info();
      assert.deepEqual([info.btfId, info.btfKeyTypeId, info.btfValueTypeId], [btf.id, 1, 2]);
    } finally {
      m.close();
    }
  } finally {
    btf.close();
  }
});

test("a rejected blob raises BpfError quoting the kernel's BTF log", () => {
  assert.throws(
    () => loadBtf(blob({ intBits: 64 })), // 64 bits do not fit in a 4-byte int
    (e: unknown) =>
      e instanceof BpfError &&
      e.command === "BPF_BTF_LOAD" &&
      /kernel BTF log/.test(e.message) &&
      /\[1\] INT/.test(e.message),
  );
});

test("the kernel's own BTF (vmlinux) can be opened by id", () => {
  let found = false;
  for (const id of btfIds()) {
    const b = btfFromId(id);
    try {
      const info = btfInfo(b.fd);
      if (info.kernelBtf && info.name === "vmlinux") {
        found = true;
        assert.ok(info.size > 1_000_000, `${info.size} bytes`);
        break;
      }
    } finally {
      b.close();
    }
  }
  assert.ok(found);
});
