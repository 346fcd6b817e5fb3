// A minimal AF_XDP socket for xskmap tests: UMEM registered, rings sized, bound in copy mode to
// queue 0 of `ifindex` in the caller's network namespace. No packets are ever exchanged.
import { native } from "../../src/bpf/sys/native.js";

const AF_XDP = 44;
const SOCK_RAW = 3;
const SOL_XDP = 283;
const XDP_RX_RING = 2;
const XDP_UMEM_REG = 4;
const XDP_UMEM_FILL_RING = 5;
const XDP_UMEM_COMPLETION_RING = 6;
const XDP_COPY = 1 << 1;
const UMEM_SIZE = 16 * 4096;

export function openBoundXsk(ifindex: number): { fd: number; close(): void } {
  const n = native();
  const umem = n.mmap(UMEM_SIZE, 3, 0x22 /* MAP_PRIVATE | MAP_ANONYMOUS */, -1, 0);
  if (umem.ret < 0) throw new Error(`mmap umem: errno ${umem.errno}`);
  const s = n.socket(AF_XDP, SOCK_RAW, 0);
  const close = () => {
    if (s.ret >= 0) n.close(s.ret);
    n.munmap(umem.ptr, UMEM_SIZE);
  };
  try {
    if (s.ret < 0) throw new Error(`socket(AF_XDP): errno ${s.errno}`);
    const reg = Buffer.alloc(24); // struct xdp_umem_reg (v1 layout)
    reg.writeBigUInt64LE(umem.ptr, 0);
    reg.writeBigUInt64LE(BigInt(UMEM_SIZE), 8);
    reg.writeUInt32LE(2048, 16); // chunk_size
    const check = (what: string, r: { ret: number; errno: number }) => {
      if (r.ret < 0) throw new Error(`${what}: errno ${r.errno}`);
    };
    check("XDP_UMEM_REG", n.setsockopt(s.ret, SOL_XDP, XDP_UMEM_REG, reg));
    const size = Buffer.alloc(4);
    size.writeUInt32LE(64);
    for (const opt of [XDP_UMEM_FILL_RING, XDP_UMEM_COMPLETION_RING, XDP_RX_RING])
      check(`ring ${opt}`, n.setsockopt(s.ret, SOL_XDP, opt, size));
    const addr = Buffer.alloc(16); // struct sockaddr_xdp
    addr.writeUInt16LE(AF_XDP, 0);
    addr.writeUInt16LE(XDP_COPY, 2);
    addr.writeUInt32LE(ifindex, 4);
    addr.writeUInt32LE(0, 8); // queue 0
    check("bind", n.bind(s.ret, addr));
    return { fd: s.ret, close };
  } catch (e) {
    close();
    throw e;
  }
}
