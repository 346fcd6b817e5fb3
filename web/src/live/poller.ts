// One poll of the counters every second for the whole page, whichever views listen; it keeps a
// few minutes of rates per key so an instance page opened later already has a chart to show.
import { readCounters, type CounterSnapshot, type Rates } from "./counters.js";

export const POLL_MS = 1000;
const HISTORY_POINTS = 300;

export interface RatePoint extends Rates {
  /** Date.now() of the read. */
  t: number;
}

type Listener = (snap: CounterSnapshot) => void;

const listeners = new Set<Listener>();
const history = new Map<string, RatePoint[]>();
let last: CounterSnapshot | undefined;
let timer: number | undefined;
let errorListener: (e: unknown) => void = () => undefined;

function record(snap: CounterSnapshot): void {
  const t = Date.now();
  const dropsKey = (name: string) => `drops:${name}`;
  for (const [key, r] of snap.rates) push(key, { ...r, t });
  for (const [name, d] of snap.instanceDropsPs)
    push(dropsKey(name), { rxPps: 0, txPps: 0, rxBps: 0, txBps: 0, dropsPs: d, t });
}

function push(key: string, p: RatePoint): void {
  let h = history.get(key);
  if (!h) history.set(key, (h = []));
  h.push(p);
  if (h.length > HISTORY_POINTS) h.splice(0, h.length - HISTORY_POINTS);
}

async function tick(): Promise<void> {
  try {
    const snap = await readCounters();
    last = snap;
    record(snap);
    for (const l of listeners) l(snap);
  } catch (e) {
    errorListener(e);
  } finally {
    if (timer !== undefined) timer = window.setTimeout(() => void tick(), POLL_MS);
  }
}

/** Starts polling (once); `onError` hears failed reads (the daemon gone, the token refused). */
export function startPolling(onError: (e: unknown) => void): void {
  errorListener = onError;
  if (timer !== undefined) return;
  timer = window.setTimeout(() => void tick(), 0);
}

/** Calls `fn` on every read (at once with the latest one); returns the unsubscribe function. */
export function onCounters(fn: Listener): () => void {
  listeners.add(fn);
  if (last) fn(last);
  return () => listeners.delete(fn);
}

/** Rates of "INSTANCE:PORT", "INSTANCE" (transparent) or "drops:INSTANCE", oldest first. */
export function rateHistory(key: string): readonly RatePoint[] {
  return history.get(key) ?? [];
}
