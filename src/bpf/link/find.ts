// Lists the links the kernel holds, to say who owns an attachment point in error messages.
import { BpfCmd } from "../constants.js";
import { BpfError } from "../errors.js";
import { getFdById } from "../sys/bpf.js";
import { linkIds } from "../sys/ids.js";
import { native } from "../sys/native.js";
import { type LinkInfo, readLinkInfo } from "./link.js";

/** Info of every link in the system (links that vanish while listing are skipped). */
export function listLinks(): LinkInfo[] {
  const out: LinkInfo[] = [];
  for (const id of linkIds()) {
    let fd: number;
    try {
      fd = getFdById(BpfCmd.LINK_GET_FD_BY_ID, id);
    } catch (e) {
      if (e instanceof BpfError) continue; // gone meanwhile
      throw e;
    }
    try {
      out.push(readLinkInfo(fd));
    } finally {
      native().close(fd);
    }
  }
  return out;
}

/**
 * The link of `type` that attaches program `progId` at `ifindex`, if any. Ifindexes are per
 * network namespace, so matching the program id as well keeps the answer right in practice.
 */
export function findInterfaceLink(type: number, ifindex: number, progId: number): LinkInfo | undefined {
  return listLinks().find((l) => l.type === type && l.ifindex === ifindex && l.progId === progId);
}
