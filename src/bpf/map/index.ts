// plexus/bpf maps: BpfMap, batches, codecs and typed views.
export { BpfMap, type MapCreateOptions, type MapInfo } from "./map.js";
export { BatchCursor, type BatchChunk } from "./batch.js";
export { TypedMap } from "./typed.js";
export * from "./codec.js";
