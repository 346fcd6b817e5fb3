// What kind of bpf object an fd refers to. BPF_OBJ_GET_INFO_BY_FD decodes whatever struct matches
// the fd's file type, so a caller expecting a map must check it does not hold a program or link.
import { readlinkSync } from "./fs.js";

export type BpfObjectKind = "map" | "prog" | "link" | "btf" | "other";

const KINDS: Record<string, BpfObjectKind> = {
  "anon_inode:bpf-map": "map",
  "anon_inode:bpf-prog": "prog",
  "anon_inode:bpf_link": "link", // fds from BPF_LINK_CREATE
  "anon_inode:bpf-link": "link", // fds from BPF_OBJ_GET and BPF_LINK_GET_FD_BY_ID
  "anon_inode:btf": "btf",
};

export function fdKind(fd: number): BpfObjectKind {
  let target: string;
  try {
    target = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return "other";
  }
  return KINDS[target] ?? "other";
}
