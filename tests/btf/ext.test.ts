import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  Btf,
  BtfExt,
  fixupDatasecs,
  lineCol,
  marshalFuncInfo,
  marshalLineInfo,
} from "../../src/bpf/btf/index.js";
import { BtfError } from "../../src/bpf/errors.js";
import { SHF } from "../../src/bpf/elf/index.js";
import { btfSection, closeFd, compileFixture, fixture, loadBtf, loadProg } from "./helpers.js";

const prog = compileFixture("btf_ext_prog.c");
const PROG_TYPE_SOCKET_FILTER = 1;

async function parsed() {
  const { elf, path } = await prog;
  const btf = Btf.parse(btfSection(elf), { fileName: path });
  const ext = BtfExt.parse(elf.sectionByName(".BTF.ext")!.data(), btf, { fileName: path });
  return { elf, btf, ext, path };
}

test("func_info has one record per function, pointing at its BTF FUNC", async () => {
  const { elf, btf, ext } = await parsed();
  const code = elf.sections.filter((s) => (s.flags & SHF.EXECINSTR) !== 0 && s.size > 0);
  assert.deepEqual([...ext.funcInfo.keys()].sort(), code.map((s) => s.name).sort());
  for (const sec of code) {
    const funcs = elf.symbolsIn(sec.index).filter((s) => s.type === "FUNC");
    funcs.sort((a, b) => a.value - b.value);
    const infos = ext.funcInfo.get(sec.name)!;
    assert.equal(infos.length, funcs.length, sec.name);
    infos.forEach((fi, i) => {
      assert.equal(fi.insnOff, funcs[i].value);
      const t = btf.typeById(fi.typeId);
      assert.deepEqual([t.kind, t.name], ["func", funcs[i].name]);
    });
  }
  assert.deepEqual(ext.recordSizes, { funcInfo: 8, lineInfo: 16, coreRelo: 16 });
  assert.equal(ext.coreRelos.size, 0);
});

test("line_info decodes file, line text, line and column that exist in the source", async () => {
  const { ext } = await parsed();
  const source = readFileSync(fixture("btf_ext_prog.c"), "utf8").split("\n");
  let n = 0;
  for (const [, lines] of ext.lineInfo) {
    for (const li of lines) {
      assert.match(li.fileName, /btf_ext_prog\.c$/);
      assert.ok(li.lineNumber >= 1 && li.lineNumber <= source.length);
      assert.equal(li.line, source[li.lineNumber - 1], `line ${li.lineNumber}`);
      assert.ok(li.column <= li.line.length + 1);
      assert.equal(li.lineCol, lineCol(li.lineNumber, li.column));
      n++;
    }
    const offs = lines.map((l) => l.insnOff);
    assert.deepEqual(
      offs,
      [...offs].sort((a, b) => a - b),
      "records are in instruction order",
    );
  }
  assert.ok(n > 10);
  const socket = ext.lineInfo.get("socket")!;
  assert.ok(socket.some((l) => l.line.includes("return verdict + (skb->mark & 1);")));
});

test("marshalled func_info and line_info are accepted by BPF_PROG_LOAD", async () => {
  const { elf, btf, ext } = await parsed();
  const btfLoad = loadBtf(fixupDatasecs(btf, elf).marshal());
  assert.equal(btfLoad.errno, 0, btfLoad.log);
  try {
    // ext_filter: the first 14 instructions of "socket", self-contained.
    const insns = elf
      .sectionByName("socket")!
      .data()
      .subarray(0, 14 * 8);
    const funcInfo = ext.funcInfo.get("socket")!.filter((f) => f.insnOff < insns.length);
    const lineInfo = ext.lineInfo.get("socket")!.filter((l) => l.insnOff < insns.length);
    const toInsn = <T extends { insnOff: number }>(r: T) => ({ ...r, insnOff: r.insnOff / 8 });
    const ok = loadProg({
      type: PROG_TYPE_SOCKET_FILTER,
      insns,
      btfFd: btfLoad.fd,
      funcInfo: marshalFuncInfo(funcInfo.map(toInsn)),
      funcInfoCnt: funcInfo.length,
      lineInfo: marshalLineInfo(lineInfo.map(toInsn)),
      lineInfoCnt: lineInfo.length,
      logLevel: 2,
    });
    closeFd(ok.fd);
    assert.equal(ok.errno, 0, ok.log);
    // The verifier log quotes source lines from our line_info.
    assert.match(ok.log, /skb->protocol/);

    // The kernel checks the records: a func_info not at instruction 0 is refused.
    const bad = loadProg({
      type: PROG_TYPE_SOCKET_FILTER,
      insns,
      btfFd: btfLoad.fd,
      funcInfo: marshalFuncInfo([{ insnOff: 1, typeId: funcInfo[0].typeId }]),
      funcInfoCnt: 1,
    });
    closeFd(bad.fd);
    assert.equal(bad.errno, 22 /* EINVAL */);
  } finally {
    closeFd(btfLoad.fd);
  }
});

test("larger records from a newer compiler are accepted, smaller ones are errors", async () => {
  const { elf, btf, ext } = await parsed();
  const raw = Buffer.from(elf.sectionByName(".BTF.ext")!.data());
  const hdrLen = raw.readUInt32LE(4);
  const fiOff = raw.readUInt32LE(8);
  const fiLen = raw.readUInt32LE(12);
  // Rebuild the func_info block with 12-byte records (4 bytes of zero padding each).
  const start = hdrLen + fiOff;
  const parts: Buffer[] = [Buffer.from([12, 0, 0, 0])];
  let at = start + 4;
  while (at < start + fiLen) {
    const num = raw.readUInt32LE(at + 4);
    parts.push(raw.subarray(at, at + 8));
    at += 8;
    for (let i = 0; i < num; i++, at += 8) parts.push(raw.subarray(at, at + 8), Buffer.alloc(4));
  }
  const block = Buffer.concat(parts);
  const rest = raw.subarray(start + fiLen);
  const hdr = Buffer.from(raw.subarray(0, hdrLen));
  hdr.writeUInt32LE(block.length, 12);
  const delta = block.length - fiLen;
  for (const o of [16, 24]) hdr.writeUInt32LE(raw.readUInt32LE(o) + delta, o);
  const bigger = Buffer.concat([hdr, raw.subarray(hdrLen, start), block, rest]);
  const ext2 = BtfExt.parse(bigger, btf);
  assert.equal(ext2.recordSizes.funcInfo, 12);
  assert.deepEqual(ext2.funcInfo, ext.funcInfo);
  assert.deepEqual(ext2.lineInfo, ext.lineInfo);

  const smaller = Buffer.from(raw);
  smaller.writeUInt32LE(4, start);
  assert.throws(
    () => BtfExt.parse(smaller, btf, { fileName: "p.o" }),
    (e: unknown) =>
      e instanceof BtfError && /func_info record size 4 is smaller than the minimum 8/.test(e.message),
  );
  const noCount = Buffer.from(raw);
  noCount.writeUInt32LE(0xfffffff, start + 8);
  assert.throws(() => BtfExt.parse(noCount, btf), /claims 268435455 records/);
});
