// The node:fs functions plexus/bpf uses, without node:fs's ES module facade: importing "node:fs"
// from an ES module builds a namespace of all its exports, and reading them loads fs streams and
// with them all of node:stream, which every cold start of the loader would pay and never use.
import { createRequire } from "node:module";

const fs = createRequire(import.meta.url)("node:fs") as typeof import("node:fs");

export const {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statfsSync,
  unlinkSync,
} = fs;
