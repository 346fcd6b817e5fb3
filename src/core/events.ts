// Every change the hypervisor makes, and what network functions report, as timestamped events:
// kept in memory (the most recent ones) and pushed to subscribers (the API's event stream).

export interface PlexusEvent {
  seq: number;
  time: string;
  /** e.g. instance.created, port.connected, instance.upgraded, daemon.adopted, nf.<kind> */
  kind: string;
  instance?: string;
  message: string;
  data?: Record<string, unknown>;
}

export class EventLog {
  private readonly recent: PlexusEvent[] = [];
  private readonly subscribers = new Set<(e: PlexusEvent) => void>();
  private seq = 0;

  constructor(private readonly capacity = 1000) {}

  emit(
    kind: string,
    message: string,
    extra: { instance?: string; data?: Record<string, unknown> } = {},
  ): PlexusEvent {
    const e: PlexusEvent = { seq: ++this.seq, time: new Date().toISOString(), kind, message, ...extra };
    this.recent.push(e);
    if (this.recent.length > this.capacity) this.recent.shift();
    for (const s of this.subscribers) s(e);
    return e;
  }

  /** Events after `sinceSeq` still in memory, oldest first. */
  list(sinceSeq = 0, instance?: string): PlexusEvent[] {
    return this.recent.filter((e) => e.seq > sinceSeq && (instance === undefined || e.instance === instance));
  }

  subscribe(fn: (e: PlexusEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }
}
