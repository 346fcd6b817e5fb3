// Numbers as operators read them: packet and bit rates with SI prefixes, counts with separators.

const PREFIXES = ["", "k", "M", "G", "T"];

function si(n: number, unit: string): string {
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1000 && i < PREFIXES.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = (i === 0 && Number.isInteger(v)) || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${(Math.sign(n) * v).toFixed(digits)} ${PREFIXES[i]}${unit}`;
}

export const pps = (n: number): string => si(n, "pps");
export const bps = (bytesPerSecond: number): string => si(bytesPerSecond * 8, "bit/s");
export const count = (n: number): string => n.toLocaleString("en-US");
export const time = (iso: string): string => new Date(iso).toLocaleTimeString("en-GB", { hour12: false });
