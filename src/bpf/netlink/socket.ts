// A blocking rtnetlink request/response channel over native() sockets: one request at a time,
// sequence numbers, multipart dumps ending in NLMSG_DONE, and errors carrying the kernel's extended
// ack message (NETLINK_EXT_ACK). Replies come at once for rtnetlink, so blocking is fine; a receive
// timeout turns a kernel that never answers into an error instead of a hang.
import { NetlinkError } from "../errors.js";
import { EAGAIN, EBADF, EINTR } from "../sys/errno.js";
import { native } from "../sys/native.js";
import { Attrs } from "./attributes.js";
import {
  AF_NETLINK,
  EPROTO,
  ETIMEDOUT,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_ROUTE,
  NLMSG_HDRLEN,
  NlMsg,
  NlmF,
  NlmsgerrAttr,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
  SO_RCVTIMEO,
  align4,
} from "./constants.js";

const MSG_TRUNC = 0x20;
const RECV_TIMEOUT_SECONDS = 5;
const DUMP_ATTEMPTS = 3;

/** One netlink message: header fields and the payload after the 16-byte header. */
export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  payload: Buffer;
}

function sockaddrNl(): Buffer {
  const b = Buffer.alloc(12); // sa_family, pad, nl_pid 0 (kernel / autobind), nl_groups 0
  b.writeUInt16LE(AF_NETLINK, 0);
  return b;
}

const intOpt = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  return b;
};

/** Splits a received datagram into messages (a length that overruns it is a protocol error). */
export function parseMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length)
      throw new NetlinkError("netlink receive", EPROTO, `message at offset ${off} has length ${len}`);
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** The kernel's extended ack message of an NLMSG_ERROR/NLMSG_DONE, if it sent one. */
function extackMessage(msg: NetlinkMessage, errorBodyLen: number): string | undefined {
  if (!(msg.flags & NlmF.ACK_TLVS)) return undefined;
  let off = errorBodyLen;
  if (msg.type === NlMsg.ERROR) {
    // struct nlmsgerr: int error + the request's header, and its payload unless CAPPED.
    const echoed = msg.payload.length >= 8 ? msg.payload.readUInt32LE(4) : NLMSG_HDRLEN;
    off = 4 + (msg.flags & NlmF.CAPPED ? NLMSG_HDRLEN : align4(echoed));
  }
  if (off > msg.payload.length) return undefined;
  return Attrs.parse(msg.payload.subarray(off), "extended ack").string(NlmsgerrAttr.MSG);
}

export class NetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly rx = Buffer.alloc(1 << 16);
  private closed = false;

  private constructor(readonly fd: number) {}

  /**
   * Opens an rtnetlink socket in the calling thread's network namespace (for the main thread,
   * the one it was moved into with setns, if any).
   */
  static open(protocol = NETLINK_ROUTE): NetlinkSocket {
    const n = native();
    const s = n.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (s.ret < 0) throw new NetlinkError("netlink socket", s.errno);
    const sock = new NetlinkSocket(s.ret);
    try {
      const bound = n.bind(s.ret, sockaddrNl());
      if (bound.ret < 0) throw new NetlinkError("netlink bind", bound.errno);
      // Best effort: without these (old kernels) errors simply carry no message.
      n.setsockopt(s.ret, SOL_NETLINK, NETLINK_EXT_ACK, intOpt(1));
      n.setsockopt(s.ret, SOL_NETLINK, NETLINK_CAP_ACK, intOpt(1));
      const tv = Buffer.alloc(16);
      tv.writeBigInt64LE(BigInt(RECV_TIMEOUT_SECONDS), 0);
      n.setsockopt(s.ret, SOL_SOCKET, SO_RCVTIMEO, tv);
    } catch (e) {
      sock.close();
      throw e;
    }
    return sock;
  }

  /** Opens a socket, runs `fn` with it and closes it. */
  static with<T>(fn: (sock: NetlinkSocket) => T): T {
    const sock = NetlinkSocket.open();
    try {
      return fn(sock);
    } finally {
      sock.close();
    }
  }

  /**
   * Sends one request and returns what it produced before the kernel's ACK (e.g. the copy asked
   * for with NLM_F_ECHO). Throws NetlinkError(operation, errno, extack) when the kernel refuses.
   */
  request(operation: string, type: number, flags: number, body: Uint8Array): NetlinkMessage[] {
    return this.exchange(operation, type, flags | NlmF.ACK, body, false);
  }

  /** Sends a dump request (RTM_GET* with NLM_F_DUMP) and returns every part until NLMSG_DONE. */
  dump(operation: string, type: number, body: Uint8Array): NetlinkMessage[] {
    // A dump that raced with a change is marked NLM_F_DUMP_INTR and may be inconsistent: redo it.
    for (let attempt = 1; ; attempt++) {
      const parts = this.exchange(operation, type, NlmF.DUMP, body, true);
      if (attempt >= DUMP_ATTEMPTS || !parts.some((m) => m.flags & NlmF.DUMP_INTR)) return parts;
    }
  }

  private exchange(operation: string, type: number, flags: number, body: Uint8Array, dump: boolean) {
    if (this.closed) throw new NetlinkError(operation, EBADF, "socket is closed");
    const seq = (this.seq = (this.seq + 1) >>> 0);
    const msg = Buffer.alloc(NLMSG_HDRLEN + body.length);
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(type, 4);
    msg.writeUInt16LE(flags | NlmF.REQUEST, 6);
    msg.writeUInt32LE(seq, 8);
    Buffer.from(body.buffer, body.byteOffset, body.byteLength).copy(msg, NLMSG_HDRLEN);

    const n = native();
    const sent = n.sendto(this.fd, msg, 0, sockaddrNl());
    if (sent.ret < 0) throw new NetlinkError(operation, sent.errno);

    const replies: NetlinkMessage[] = [];
    for (;;) {
      const r = n.recv(this.fd, this.rx, MSG_TRUNC);
      if (r.ret < 0) {
        if (r.errno === EINTR) continue;
        if (r.errno === EAGAIN)
          throw new NetlinkError(
            operation,
            ETIMEDOUT,
            `no answer from the kernel in ${RECV_TIMEOUT_SECONDS} s`,
          );
        throw new NetlinkError(operation, r.errno);
      }
      if (r.ret > this.rx.length)
        throw new NetlinkError(operation, EPROTO, `reply of ${r.ret} bytes exceeds the receive buffer`);
      for (const m of parseMessages(this.rx.subarray(0, r.ret))) {
        if (m.seq !== seq) continue; // a late answer to an earlier request
        if (m.type === NlMsg.ERROR) {
          const err = m.payload.length >= 4 ? m.payload.readInt32LE(0) : -EPROTO;
          if (err === 0) return replies; // ACK
          throw new NetlinkError(operation, -err, extackMessage(m, 4));
        }
        if (m.type === NlMsg.DONE && dump) {
          const err = m.payload.length >= 4 ? m.payload.readInt32LE(0) : 0;
          if (err < 0) throw new NetlinkError(operation, -err, extackMessage(m, 4));
          return replies;
        }
        if (m.type === NlMsg.NOOP) continue;
        if (m.type === NlMsg.OVERRUN) throw new NetlinkError(operation, EPROTO, "receive buffer overrun");
        replies.push({ ...m, payload: Buffer.from(m.payload) }); // rx is reused
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native().close(this.fd);
  }
}
