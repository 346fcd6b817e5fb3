// Enumerating kernel objects by id (BPF_*_GET_NEXT_ID). Ids are stable, fds are per process.
import { BpfCmd } from "../constants.js";
import { getNextId } from "./bpf.js";

function* walk(cmd: number): IterableIterator<number> {
  let id = getNextId(cmd, 0);
  while (id !== undefined) {
    yield id;
    id = getNextId(cmd, id);
  }
}

/** Ids of every loaded program, ascending. */
export const programIds = (): IterableIterator<number> => walk(BpfCmd.PROG_GET_NEXT_ID);
/** Ids of every map, ascending. */
export const mapIds = (): IterableIterator<number> => walk(BpfCmd.MAP_GET_NEXT_ID);
/** Ids of every link, ascending. */
export const linkIds = (): IterableIterator<number> => walk(BpfCmd.LINK_GET_NEXT_ID);
/** Ids of every BTF object (vmlinux, modules, programs'), ascending. */
export const btfIds = (): IterableIterator<number> => walk(BpfCmd.BTF_GET_NEXT_ID);
