// A typed view of a map: keys and values go through codecs instead of raw bytes.
import { PlexusBpfError } from "../errors.js";
import { asField, type Codec, type FieldCodec } from "./codec.js";
import type { MapHandle } from "./handle.js";

export class TypedMap<K, V> {
  readonly #k: FieldCodec<K>;
  readonly #v: FieldCodec<V>;
  readonly #keyBuf: Buffer;
  readonly #valueBuf: Buffer;

  constructor(
    readonly map: MapHandle,
    key: Codec<K>,
    value: Codec<V>,
  ) {
    this.#k = asField(key);
    this.#v = asField(value);
    // Keyless maps (queue, stack, bloom filter) take `none` as their key codec.
    if (this.#k.size !== map.keySize)
      throw new PlexusBpfError(
        `typed map ${map.name}: key codec of ${key.size} bytes, map keys are ${map.keySize}`,
      );
    if (this.#v.size !== map.valueSize)
      throw new PlexusBpfError(
        `typed map ${map.name}: value codec of ${value.size} bytes, map values are ${map.valueSize}`,
      );
    this.#keyBuf = Buffer.alloc(map.keySize);
    this.#valueBuf = Buffer.alloc(map.valueSize);
  }

  #key(k: K): Buffer | null {
    if (this.map.keySize === 0) return null;
    this.#k.write(k, this.#keyBuf, 0);
    return this.#keyBuf;
  }

  #value(v: V): Buffer {
    this.#v.write(v, this.#valueBuf, 0);
    return this.#valueBuf;
  }

  lookup(k: K): V | undefined {
    const v = this.map.lookupView(this.#key(k));
    return v && this.#v.read(v, 0);
  }

  /** Per-CPU maps: one value per possible CPU. */
  lookupPerCpu(k: K): V[] | undefined {
    return this.map.lookupPerCpu(this.#key(k))?.map((b) => this.#v.read(b, 0));
  }

  update(k: K, v: V, flags = 0): void {
    this.map.update(this.#key(k), this.#value(v), flags);
  }

  updatePerCpu(k: K, values: readonly V[], flags = 0): void {
    this.map.updatePerCpu(
      this.#key(k),
      values.map((v) => this.#v.encode(v)),
      flags,
    );
  }

  delete(k: K): boolean {
    return this.map.delete(this.#key(k) ?? Buffer.alloc(0));
  }

  /** Queue/stack/bloom. */
  push(v: V, flags = 0): void {
    this.map.push(this.#value(v), flags);
  }

  pop(): V | undefined {
    const b = this.map.pop();
    return b && this.#v.read(b, 0);
  }

  peek(): V | undefined {
    const b = this.map.peek();
    return b && this.#v.read(b, 0);
  }

  *keys(): IterableIterator<K> {
    for (const k of this.map.keys()) yield this.#k.read(k, 0);
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [k, v] of this.map.entries()) yield [this.#k.read(k, 0), this.#v.read(v, 0)];
  }

  /** Per-CPU maps: [key, one value per CPU]. */
  *entriesPerCpu(): IterableIterator<[K, V[]]> {
    for (const k of this.map.keys()) {
      const vs = this.map.lookupPerCpu(k);
      if (vs) yield [this.#k.read(k, 0), vs.map((b) => this.#v.read(b, 0))];
    }
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}
