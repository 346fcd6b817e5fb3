// Live packets through AF_PACKET sockets: one raw socket bound to an interface, promiscuous, that
// does not see its own transmissions; frames are read without blocking when the event loop says
// the socket is readable, and written back out of the same interface.
import { PlexusBpfError } from "../../bpf/errors.js";
import { native } from "../../bpf/sys/native.js";
import type { PollWatch } from "../../bpf/sys/native.js";

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
/** htons(ETH_P_ALL) as the socket call wants it. */
const ETH_P_ALL_BE = 0x0300;
const SOL_PACKET = 263;
const PACKET_ADD_MEMBERSHIP = 1;
const PACKET_MR_PROMISC = 1;
const PACKET_IGNORE_OUTGOING = 23;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const EINTR = 4;

export class PacketSocket {
  readonly fd: number;
  readonly ifindex: number;
  readonly #buf = Buffer.alloc(65536 + 4096);
  #watch: PollWatch | undefined;
  #closed = false;
  sent = 0;
  sendErrors = 0;

  constructor(readonly ifname: string) {
    const n = native();
    this.ifindex = n.ifNameToIndex(ifname);
    if (!this.ifindex) throw new PlexusBpfError(`no interface '${ifname}'`);
    const s = n.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, ETH_P_ALL_BE);
    if (s.ret < 0) throw new PlexusBpfError(`AF_PACKET socket: errno ${s.errno} (are you root?)`);
    this.fd = s.ret;
    try {
      const sll = Buffer.alloc(20);
      sll.writeUInt16LE(AF_PACKET, 0);
      sll.writeUInt16BE(0x0003, 2);
      sll.writeInt32LE(this.ifindex, 4);
      const b = n.bind(this.fd, sll);
      if (b.ret < 0) throw new PlexusBpfError(`bind to ${ifname}: errno ${b.errno}`);
      const mreq = Buffer.alloc(16);
      mreq.writeInt32LE(this.ifindex, 0);
      mreq.writeUInt16LE(PACKET_MR_PROMISC, 4);
      n.setsockopt(this.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq);
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      n.setsockopt(this.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, one);
    } catch (e) {
      n.close(this.fd);
      throw e;
    }
  }

  /** Reads every frame waiting (without blocking), giving each to `fn` (a view valid during the call). */
  drain(fn: (frame: Buffer) => void, limit = Infinity): number {
    const n = native();
    let count = 0;
    while (count < limit && !this.#closed) {
      const r = n.recv(this.fd, this.#buf, MSG_DONTWAIT);
      if (r.ret < 0) {
        if (r.errno === EAGAIN || r.errno === EINTR) break;
        throw new PlexusBpfError(`recv on ${this.ifname}: errno ${r.errno}`);
      }
      count++;
      fn(this.#buf.subarray(0, r.ret));
    }
    return count;
  }

  /** Sends a frame out of this interface. */
  send(frame: Uint8Array): boolean {
    const r = native().sendto(this.fd, Buffer.from(frame.buffer, frame.byteOffset, frame.length), 0, null);
    if (r.ret < 0) {
      this.sendErrors++;
      return false;
    }
    this.sent++;
    return true;
  }

  /** Sends a frame out of another interface (a redirect) through this socket. */
  sendTo(frame: Uint8Array, ifindex: number): boolean {
    const sll = Buffer.alloc(20);
    sll.writeUInt16LE(AF_PACKET, 0);
    sll.writeUInt16BE(0x0003, 2);
    sll.writeInt32LE(ifindex, 4);
    const r = native().sendto(this.fd, Buffer.from(frame.buffer, frame.byteOffset, frame.length), 0, sll);
    if (r.ret < 0) {
      this.sendErrors++;
      return false;
    }
    this.sent++;
    return true;
  }

  /** Calls `fn` whenever frames are waiting. */
  onReadable(fn: () => void): void {
    this.#watch = native().pollReadable(this.fd, fn);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch?.close();
    native().close(this.fd);
  }
}
