// bpf_trace_printk's formatting: the conversions the kernel's bpf_bprintf_prepare() accepts
// (%d %i %u %x %X %o %c %s %p with l/ll/h/hh/z and flags/width/precision), arguments taken as
// the kernel takes them: up to three (trace_printk) or from an array (trace_vprintk).

export interface PrintkArgs {
  /** The i-th argument as an unsigned 64-bit value. */
  arg(i: number): bigint | undefined;
  /** A NUL-terminated string at an address (checked by the caller's memory rules). */
  string(addr: bigint): string;
}

export function formatPrintk(fmt: string, args: PrintkArgs): string {
  let out = "";
  let n = 0;
  const re = /%([-+ #0]*)(\d*)(?:\.(\d+))?(hh|h|ll|l|z)?([diuxXocsp%])/g;
  let last = 0;
  for (let m = re.exec(fmt); m; m = re.exec(fmt)) {
    out += fmt.slice(last, m.index);
    last = re.lastIndex;
    const [, flags, width, precision, len, conv] = m;
    if (conv === "%") {
      out += "%";
      continue;
    }
    const v = args.arg(n++) ?? 0n;
    const bits = len === "ll" || len === "l" || len === "z" ? 64 : len === "h" ? 16 : len === "hh" ? 8 : 32;
    let s: string;
    switch (conv) {
      case "d":
      case "i":
        s = BigInt.asIntN(bits, v).toString();
        break;
      case "u":
        s = BigInt.asUintN(bits, v).toString();
        break;
      case "x":
        s = BigInt.asUintN(bits, v).toString(16);
        break;
      case "X":
        s = BigInt.asUintN(bits, v).toString(16).toUpperCase();
        break;
      case "o":
        s = BigInt.asUintN(bits, v).toString(8);
        break;
      case "c":
        s = String.fromCharCode(Number(v & 0xffn));
        break;
      case "s":
        s = args.string(v);
        if (precision !== undefined) s = s.slice(0, Number(precision));
        break;
      default:
        s = `0x${BigInt.asUintN(64, v).toString(16)}`;
    }
    if (flags.includes("#") && (conv === "x" || conv === "X") && v !== 0n) s = `0${conv}${s}`;
    if (flags.includes("+") && (conv === "d" || conv === "i") && !s.startsWith("-")) s = `+${s}`;
    const w = Number(width || 0);
    if (s.length < w)
      s = flags.includes("-")
        ? s.padEnd(w)
        : flags.includes("0") && conv !== "s"
          ? s.padStart(w, "0")
          : s.padStart(w);
    out += s;
  }
  return out + fmt.slice(last);
}
