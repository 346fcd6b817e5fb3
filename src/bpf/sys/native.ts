// The only place where plexus crosses into native code. Everything the library needs from the
// kernel goes through this small interface, so it can be swapped for an N-API addon or a fake.
import { createRequire } from "node:module";
import { existsSync } from "./fs.js";
import { arch, platform } from "node:os";

/** Result of a raw system call: a non-negative value, or the errno of a failure. */
export interface SysResult {
  ret: number;
  errno: number;
}

/** Pointer into native memory (what mmap returns). */
export type NativePointer = bigint;

export interface PollWatch {
  stop(): void;
  /** Re-arms a stopped watch with the same callback. */
  start(): void;
  /** Stops and releases the watch; it cannot be started again. */
  close(): void;
  unref(): void;
  ref(): void;
}

export interface NativeBackend {
  /** bpf(2): cmd with an attr buffer that the kernel may write back into. */
  bpf(cmd: number, attr: Buffer, size?: number): SysResult;
  /** bpf(2) on a worker thread, for calls that may take long (program loads). */
  bpfAsync(cmd: number, attr: Buffer, size?: number): Promise<SysResult>;
  /** Address of a Buffer, for pointer fields in attrs. The Buffer must stay referenced until the call returns. */
  address(buf: Buffer | Uint8Array): bigint;
  close(fd: number): void;
  mmap(
    length: number,
    prot: number,
    flags: number,
    fd: number,
    offset: number,
    /** Address hint, or the exact address with MAP_FIXED. */
    addr?: NativePointer,
  ): SysResult & { ptr: NativePointer };
  munmap(ptr: NativePointer, length: number): void;
  /** An ArrayBuffer over native memory (no copy). */
  view(ptr: NativePointer, length: number): ArrayBuffer;
  /** Watch an fd for readability in the event loop (epoll through libuv, no thread, no busy loop). */
  pollReadable(fd: number, onReadable: () => void): PollWatch;
  socket(domain: number, type: number, protocol: number): SysResult;
  bind(fd: number, addr: Buffer): SysResult;
  sendto(fd: number, buf: Buffer, flags: number, addr: Buffer | null): SysResult;
  recv(fd: number, buf: Buffer, flags: number): SysResult;
  setsockopt(fd: number, level: number, name: number, value: Buffer): SysResult;
  ifNameToIndex(name: string): number;
  ifIndexToName(index: number): string | undefined;
  pageSize(): number;
  perfEventOpen(attr: Buffer, pid: number, cpu: number, groupFd: number, flags: number): SysResult;
  ioctl(fd: number, request: number, arg: number): SysResult;
  /** setns(2): moves the calling thread (the JS main thread) into the namespace behind fd. */
  setns(fd: number, nstype: number): SysResult;
  /** sched_getcpu(3): the CPU the calling thread runs on. */
  getCpu?(): number;
  /** sched_setaffinity(2) of the calling thread: the CPUs it may run on. */
  setAffinity?(cpus: readonly number[]): SysResult;
}

const SYS_BPF: Partial<Record<string, number>> = { x64: 321, arm64: 280 };
const SYS_PERF_EVENT_OPEN: Partial<Record<string, number>> = { x64: 298, arm64: 241 };

type KoffiFn = ((...args: unknown[]) => unknown) & {
  async: (...args: unknown[]) => void;
};

interface Koffi {
  load(path: string): { func(proto: string): KoffiFn };
  errno(): number;
  address(value: unknown): bigint;
  view(ptr: unknown, len: number): ArrayBuffer;
  node: {
    poll(
      fd: number,
      opts: { readable: boolean },
      cb: () => void,
    ): {
      start(opts: { readable: boolean }, cb: () => void): void;
      stop(): void;
      close(): void;
      unref(): void;
      ref(): void;
    };
  };
}

/** Names of the machine in ld-musl's file name. */
const MUSL_ARCH: Partial<Record<string, string>> = { x64: "x86_64", arm64: "aarch64" };

/**
 * koffi's prebuilt glibc binary, required directly: koffi's entry point takes longer than the
 * dlopen itself (it reads the node executable's ELF headers to choose between its glibc and musl
 * builds), which a cold start pays. Anything unusual (musl present, another layout or platform)
 * goes through koffi's entry point.
 */
function requireKoffi(require: NodeJS.Require): Koffi {
  const musl = MUSL_ARCH[arch()];
  if (platform() === "linux" && musl !== undefined && !existsSync(`/lib/ld-musl-${musl}.so.1`)) {
    try {
      const k = require(`@koromix/koffi-linux-${arch()}/linux_${arch()}/koffi.node`) as Partial<Koffi>;
      if (typeof k.load === "function" && typeof k.errno === "function") return k as Koffi;
    } catch {
      // not installed that way: koffi's entry point finds it
    }
  }
  return require("koffi") as Koffi;
}

function createKoffiBackend(): NativeBackend {
  const koffi = requireKoffi(createRequire(import.meta.url));
  const libc = koffi.load("libc.so.6");
  const bpfNr = SYS_BPF[arch()];
  const perfNr = SYS_PERF_EVENT_OPEN[arch()];
  if (bpfNr === undefined || perfNr === undefined)
    throw new Error(`plexus: unsupported architecture ${arch()}`);
  // Fixed, non-variadic prototypes: koffi cannot pass variadic arguments to async calls, and the
  // ABI of syscall() is the same for these argument kinds.
  const syscall4 = libc.func("long syscall(long nr, long cmd, void *attr, unsigned long size)");
  const syscall6 = libc.func(
    "long syscall(long nr, void *attr, long pid, long cpu, long group, unsigned long flags)",
  );
  const close = libc.func("int close(int fd)");
  const mmap = libc.func("void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)");
  const munmap = libc.func("int munmap(void *addr, size_t len)");
  const socket = libc.func("int socket(int domain, int type, int protocol)");
  const bind = libc.func("int bind(int fd, void *addr, unsigned int len)");
  const sendto = libc.func(
    "long sendto(int fd, void *buf, size_t len, int flags, void *addr, unsigned int alen)",
  );
  const recv = libc.func("long recv(int fd, void *buf, size_t len, int flags)");
  const setsockopt = libc.func("int setsockopt(int fd, int level, int name, void *val, unsigned int len)");
  const nameToIndex = libc.func("unsigned int if_nametoindex(const char *name)");
  const indexToName = libc.func("char *if_indextoname(unsigned int index, _Out_ uint8_t *name)");
  const getpagesize = libc.func("int getpagesize()");
  const ioctl = libc.func("int ioctl(int fd, unsigned long req, long arg)");
  const setns = libc.func("int setns(int fd, int nstype)");
  const getcpu = libc.func("int sched_getcpu()");
  const setaffinity = libc.func("int sched_setaffinity(int pid, size_t size, void *mask)");

  const result = (ret: unknown): SysResult => {
    const n = Number(ret);
    return n < 0 ? { ret: n, errno: koffi.errno() } : { ret: n, errno: 0 };
  };
  const page = Number(getpagesize());

  return {
    bpf: (cmd, attr, size = attr.length) => result(syscall4(bpfNr, cmd, attr, size)),
    bpfAsync: (cmd, attr, size = attr.length) =>
      new Promise((resolve, reject) => {
        syscall4.async(bpfNr, cmd, attr, size, (err: unknown, ret: unknown) => {
          if (err) reject(err);
          else resolve(result(ret));
        });
      }),
    address: (buf) => koffi.address(buf),
    close: (fd) => void close(fd),
    mmap: (length, prot, flags, fd, offset, hint) => {
      const ptr = mmap(hint ?? null, length, prot, flags, fd, offset);
      const addr = ptr === null ? -1n : koffi.address(ptr);
      // MAP_FAILED is (void *)-1.
      if (addr === -1n || addr === 0xffffffffffffffffn) return { ret: -1, errno: koffi.errno(), ptr: 0n };
      return { ret: 0, errno: 0, ptr: addr };
    },
    munmap: (ptr, length) => void munmap(ptr, length),
    view: (ptr, length) => koffi.view(ptr, length),
    pollReadable: (fd, onReadable) => {
      const h = koffi.node.poll(fd, { readable: true }, onReadable);
      // Only one uv_poll may exist per fd: restart this one rather than creating another.
      return {
        stop: () => h.stop(),
        start: () => h.start({ readable: true }, onReadable),
        close: () => h.close(),
        unref: () => h.unref(),
        ref: () => h.ref(),
      };
    },
    socket: (d, t, p) => result(socket(d, t, p)),
    bind: (fd, addr) => result(bind(fd, addr, addr.length)),
    sendto: (fd, buf, flags, addr) =>
      result(sendto(fd, buf, buf.length, flags, addr, addr ? addr.length : 0)),
    recv: (fd, buf, flags) => result(recv(fd, buf, buf.length, flags)),
    setsockopt: (fd, level, name, value) => result(setsockopt(fd, level, name, value, value.length)),
    ifNameToIndex: (name) => Number(nameToIndex(name)),
    ifIndexToName: (index) => {
      const out = new Uint8Array(16);
      if (indexToName(index, out) === null) return undefined;
      const end = out.indexOf(0);
      return Buffer.from(out.subarray(0, end < 0 ? out.length : end)).toString();
    },
    pageSize: () => page,
    perfEventOpen: (attr, pid, cpu, group, flags) => result(syscall6(perfNr, attr, pid, cpu, group, flags)),
    ioctl: (fd, req, arg) => result(ioctl(fd, req, arg)),
    setns: (fd, nstype) => result(setns(fd, nstype)),
    getCpu: () => Number(getcpu()),
    setAffinity: (cpus) => {
      const mask = Buffer.alloc(128);
      for (const c of cpus) mask[c >> 3] |= 1 << (c & 7);
      return result(setaffinity(0, mask.length, mask));
    },
  };
}

let backend: NativeBackend | undefined;

/** The process-wide native backend (koffi unless replaced). */
export function native(): NativeBackend {
  backend ??= createKoffiBackend();
  return backend;
}

/** Replace the native backend (an N-API addon, or a recorder in tests). */
export function setNativeBackend(b: NativeBackend): void {
  backend = b;
}
