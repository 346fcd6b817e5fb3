export { RingBufferReader, type RingBufferMap } from "./reader.js";
