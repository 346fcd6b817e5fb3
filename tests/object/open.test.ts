// The object model, without the kernel: what plexus reads from clang-built objects.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AttachType, MapFlags, MapType, ProgFlags, ProgType } from "../../src/bpf/constants.js";
import { ObjectFileError } from "../../src/bpf/errors.js";
import { BpfObject } from "../../src/bpf/object/object.js";
import { internalMapName } from "../../src/bpf/object/open.js";
import { fixture } from "../helpers/fixtures.js";

const open = async (name: string, opts?: Parameters<typeof BpfObject.open>[1]) =>
  BpfObject.open(await fixture(name), opts);

describe("BTF-defined maps", () => {
  test("every map type, with sizes, flags, pinning and map_extra as declared", async () => {
    const obj = await open("obj_maps");
    const m = (n: string) => obj.map(n);
    assert.deepEqual(
      [m("m_hash").type, m("m_hash").keySize, m("m_hash").valueSize, m("m_hash").maxEntries],
      [MapType.HASH, 4, 8, 128],
    );
    assert.equal(m("m_lpm").type, MapType.LPM_TRIE);
    assert.equal(m("m_lpm").keySize, 8);
    assert.equal(m("m_lpm").flags, MapFlags.NO_PREALLOC);
    assert.equal(m("m_devmap_hash").valueSize, 8, "struct bpf_devmap_val");
    assert.equal(m("m_ringbuf").type, MapType.RINGBUF);
    assert.equal(m("m_ringbuf").maxEntries, 4096);
    assert.equal(m("m_perf").maxEntries, 0, "perf event arrays are sized at load time");
    assert.equal(m("m_queue").keySize, 0);
    assert.equal(m("m_bloom").mapExtra, 3n);
    assert.equal(m("pinned_counts").pinning, "by-name");
    assert.equal(m("m_hash").pinning, "none");
    assert.ok(m("m_hash").btfKeyTypeId > 0 && m("m_hash").btfValueTypeId > 0);
    assert.equal(obj.spec.maps.size, 17);
  });

  test("map-in-map: inner template and static initialisers", async () => {
    const obj = await open("obj_map_in_map");
    const outer = obj.map("outer_array");
    assert.equal(outer.type, MapType.ARRAY_OF_MAPS);
    assert.equal(outer.valueSize, 4);
    assert.equal(outer.innerMap?.type, MapType.ARRAY);
    assert.equal(outer.innerMap?.maxEntries, 4);
    assert.deepEqual(
      [...outer.initialSlots],
      [
        [0, "inner_a"],
        [2, "inner_b"],
      ],
    );
    const hash = obj.map("outer_hash");
    assert.equal(hash.innerMap?.type, MapType.HASH);
    assert.equal(hash.innerMap?.valueSize, 8);
    assert.equal(hash.initialSlots.size, 0);
  });

  test("prog array statically initialised with programs", async () => {
    const obj = await open("obj_tailcall");
    assert.deepEqual(
      [...obj.map("jump_table").initialSlots],
      [
        [1, "tail_one"],
        [2, "tail_two"],
      ],
    );
    assert.deepEqual([...obj.spec.programs.keys()].sort(), ["tail_entry", "tail_one", "tail_two"]);
  });
});

describe("legacy maps", () => {
  test("iproute2 bpf_elf_map definitions with pinning", async () => {
    const obj = await open("obj_legacy_maps");
    const counts = obj.map("legacy_counts");
    assert.equal(counts.origin, "iproute2");
    assert.deepEqual(
      [counts.type, counts.keySize, counts.valueSize, counts.maxEntries],
      [MapType.ARRAY, 4, 8, 4],
    );
    const pinned = obj.map("legacy_pinned");
    assert.equal(pinned.pinning, "global-ns");
    assert.equal(pinned.flags, MapFlags.NO_PREALLOC);
    assert.equal(obj.program("legacy_cls").type, ProgType.SCHED_CLS);
  });
});

describe("global data", () => {
  test("one internal map per data section, named like libbpf's", async () => {
    const obj = await open("obj_globals");
    const prefix = internalMapName(obj.spec.objectName, ".rodata").replace(".rodata", "");
    assert.equal(prefix, obj.spec.objectName.slice(0, 8).replace(/[^A-Za-z0-9_.]/g, "_"));
    const names = [...obj.spec.maps.values()].map((m) => m.section).sort();
    assert.deepEqual(names, [
      ".bss",
      ".data",
      ".data.custom",
      ".kconfig",
      ".rodata",
      ".rodata.custom",
      ".rodata.str1.1",
    ]);
    const ro = obj.map(internalMapName(obj.spec.objectName, ".rodata"));
    assert.equal(ro.flags, MapFlags.RDONLY_PROG | MapFlags.MMAPABLE);
    assert.ok(ro.freeze);
    assert.equal(obj.map(".data.custom").flags, MapFlags.MMAPABLE, "custom sections keep their own name");
    const str = [...obj.spec.maps.values()].find((m) => m.section === ".rodata.str1.1");
    assert.equal(str?.flags, MapFlags.RDONLY_PROG | MapFlags.MMAPABLE, "string literals: read-only");
  });

  test("variables, constants set before load, and type checks", async () => {
    const obj = await open("obj_globals");
    const v = obj.variable("ret_base");
    assert.equal(v.size, 4);
    assert.equal(v.constant, true);
    obj.setConstant("ret_base", 42).setConstant("mode", 1);
    const data = obj.map(v.map).data as Buffer;
    assert.equal(data.readUInt32LE(v.offset), 42);
    assert.throws(() => obj.setConstant("mode", 300), /out of range/);
    assert.throws(() => obj.setConstant("nope", 1), /no global variable 'nope'/);
    obj.setVariable("message", "hi");
    assert.equal(obj.variable("data_counter").constant, false);
    assert.equal(obj.variable("static_data").linkage, "static");
  });

  test("kconfig externs laid out by alignment, size and name", async () => {
    const obj = await open("obj_globals");
    const k = obj.spec.kconfig.map((e) => [e.name, e.offset, e.size, e.weak]);
    assert.deepEqual(k, [
      ["CONFIG_PLEXUS_DOES_NOT_EXIST", 0, 4, true],
      ["LINUX_KERNEL_VERSION", 4, 4, false],
      ["CONFIG_BPF_SYSCALL", 8, 1, false],
    ]);
  });
});

describe("programs", () => {
  test("section names map to program and attach types as in libbpf", async () => {
    const obj = await open("obj_sections");
    const t = (n: string) => [obj.program(n).type, obj.program(n).expectedAttachType];
    assert.deepEqual(t("sock_filter"), [ProgType.SOCKET_FILTER, 0]);
    assert.deepEqual(t("skb_parser"), [ProgType.SK_SKB, AttachType.SK_SKB_STREAM_PARSER]);
    assert.deepEqual(t("msg_verdict"), [ProgType.SK_MSG, AttachType.SK_MSG_VERDICT]);
    assert.deepEqual(t("cg_in"), [ProgType.CGROUP_SKB, AttachType.CGROUP_INET_INGRESS]);
    assert.deepEqual(t("dissect"), [ProgType.FLOW_DISSECTOR, AttachType.FLOW_DISSECTOR]);
    assert.deepEqual(t("lookup"), [ProgType.SK_LOOKUP, AttachType.SK_LOOKUP]);
    assert.deepEqual(t("lwt_in_prog"), [ProgType.LWT_IN, 0]);
    assert.deepEqual(t("xdp_devmap"), [ProgType.XDP, AttachType.XDP_DEVMAP]);
    assert.deepEqual(t("xdp_frags"), [ProgType.XDP, AttachType.XDP]);
    assert.equal(obj.program("xdp_frags").flags, ProgFlags.XDP_HAS_FRAGS);
    assert.deepEqual(t("tc_first"), [ProgType.SCHED_CLS, 0]);
    assert.equal(obj.program("tc_second").section, "tc", "several programs in one section");
    assert.deepEqual(t("legacy_classifier"), [ProgType.SCHED_CLS, 0]);
  });

  test("TCX sections carry their attach type", async () => {
    const obj = await open("obj_tc");
    assert.equal(obj.program("tcx_in").expectedAttachType, AttachType.TCX_INGRESS);
    assert.equal(obj.program("tcx_out").expectedAttachType, AttachType.TCX_EGRESS);
  });

  test("'?' sections are not autoloaded; unknown sections need an explicit type", async () => {
    await assert.rejects(open("obj_optional"), (e: unknown) => {
      assert.ok(e instanceof ObjectFileError);
      assert.match(e.message, /legacy_named.*section 'prog'.*give its type explicitly/);
      return true;
    });
    const obj = await open("obj_optional", { programTypes: { prog: "xdp" } });
    assert.equal(obj.program("on_demand").autoload, false);
    assert.equal(obj.program("always").autoload, true);
    assert.equal(obj.program("legacy_named").type, ProgType.XDP);
  });

  test("bpf-to-bpf calls and callbacks are linked into each program with func info", async () => {
    const obj = await open("obj_calls");
    const p = obj.program("calls");
    assert.deepEqual([...p.functions].sort(), ["add_squares", "calls", "loop_cb", "square", "sum_cb"]);
    assert.equal(p.funcInfo.length, 5, "one func_info record per function");
    assert.ok(p.lineInfo.length > 0);
    assert.deepEqual(obj.program("calls_tc").functions, ["calls_tc", "add_squares", "square"]);
    assert.ok(obj.spec.relocations.calls >= 3);
    assert.equal(obj.spec.relocations.funcAddresses, 2);
  });

  test("CO-RE relocations are counted and resolved", async () => {
    const obj = await open("obj_core");
    assert.ok(obj.spec.relocations.core >= 8, `core relocations: ${obj.spec.relocations.core}`);
  });

  test("license and the error for a program without one", async () => {
    const obj = await open("obj_xdp_counter");
    assert.equal(obj.program("xdp_count").license, "GPL");
  });
});
