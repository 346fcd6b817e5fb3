// The topology page: the graph with live rates, instances sorted by packet rate, recent events.
import { getJson } from "../api.js";
import { drawGraph, type GraphView } from "../graph/view.js";
import { layoutTopology } from "../graph/layout.js";
import type { CounterSnapshot, InstanceCounters } from "../live/counters.js";
import { followEvents } from "../live/events.js";
import { onCounters } from "../live/poller.js";
import { h, replace } from "../ui/dom.js";
import { count, pps, time } from "../ui/format.js";
import type { PlexusEvent, TopologyJson } from "../types.js";

const TOPOLOGY_MS = 5000;
const EVENTS_SHOWN = 30;

function instanceRows(snap: CounterSnapshot): HTMLTableRowElement[] {
  const rateOf = (i: InstanceCounters) => snap.rates.get(i.name)?.rxPps ?? 0;
  return [...snap.instances]
    .map((i) => ({ i, rate: rateOf(i), drops: Object.values(i.drops).reduce((a, n) => a + n, 0) }))
    .sort((a, b) => b.rate - a.rate || a.i.name.localeCompare(b.i.name))
    .map(({ i, rate, drops }) =>
      h(
        "tr",
        { "data-instance": i.name, class: (snap.instanceDropsPs.get(i.name) ?? 0) > 0 ? "dropping" : null },
        h("td", {}, h("a", { href: `#/instance/${encodeURIComponent(i.name)}` }, i.name)),
        h("td", {}, i.type),
        h("td", { class: "num" }, pps(rate)),
        h("td", { class: "num drops-cell" }, count(drops)),
      ),
    );
}

export function eventItem(e: PlexusEvent): HTMLLIElement {
  return h(
    "li",
    { "data-event": e.kind, "data-seq": e.seq },
    h("time", {}, time(e.time)),
    h("span", { class: "kind" }, e.kind),
    e.instance ? h("a", { href: `#/instance/${encodeURIComponent(e.instance)}` }, e.instance) : null,
    h("span", { class: "msg" }, e.message),
  );
}

export function topologyPage(root: HTMLElement, signal: AbortSignal): void {
  const graphBox = h("div", { class: "graph-box", id: "graph" }, h("p", { class: "muted" }, "loading…"));
  const tbody = h("tbody");
  const events = h("ol", { class: "events", id: "events" });
  replace(
    root,
    h(
      "div",
      { class: "topology-page" },
      h("section", { class: "panel graph-panel" }, h("h2", {}, "Topology"), graphBox),
      h(
        "aside",
        { class: "side" },
        h(
          "section",
          { class: "panel" },
          h("h2", {}, "Instances"),
          h(
            "table",
            { class: "grid", id: "instances" },
            h(
              "thead",
              {},
              h("tr", {}, h("th", {}, "name"), h("th", {}, "type"), h("th", {}, "rx"), h("th", {}, "drops")),
            ),
            tbody,
          ),
        ),
        h("section", { class: "panel" }, h("h2", {}, "Events"), events),
      ),
    ),
  );

  let view: GraphView | undefined;
  let shape = "";
  let latest: CounterSnapshot | undefined;
  const draw = async () => {
    const topo = await getJson<TopologyJson>("/v1/topology", signal);
    // Hosts' interfaces come and go without events: the graph is drawn again when anything changed.
    const next = JSON.stringify(topo);
    if (next === shape || !latest) return;
    shape = next;
    view = drawGraph(layoutTopology(topo));
    replace(graphBox, view.svg);
    view.update(latest);
  };
  // A burst of events (a bulk table load, apply) costs one read in flight and at most one after it.
  let running: Promise<void> | undefined;
  let again = false;
  const refresh = async (): Promise<void> => {
    if (!latest) return;
    if (running) {
      again = true;
      return running;
    }
    running = draw().finally(() => (running = undefined));
    await running;
    if (again) {
      again = false;
      await refresh();
    }
  };
  const unsubscribe = onCounters((snap) => {
    const known = latest ? new Set(latest.instances.map((i) => i.name)) : undefined;
    latest = snap;
    replace(tbody, ...instanceRows(snap));
    const changed =
      !known || known.size !== snap.instances.length || snap.instances.some((i) => !known.has(i.name));
    if (changed || !view) void refresh().catch(() => undefined);
    view?.update(snap);
  });
  const timer = setInterval(() => void refresh().catch(() => undefined), TOPOLOGY_MS);
  signal.addEventListener("abort", () => {
    unsubscribe();
    clearInterval(timer);
  });

  void (async () => {
    const recent = await getJson<PlexusEvent[]>(`/v1/events?limit=${EVENTS_SHOWN}`, signal).catch(() => []);
    events.append(...recent.reverse().map(eventItem));
    await followEvents({
      since: recent[0]?.seq ?? 0,
      signal,
      onEvent: (e) => {
        events.prepend(eventItem(e));
        while (events.children.length > EVENTS_SHOWN) events.lastElementChild?.remove();
        // A change of the topology shows at once, not at the next periodic read.
        void refresh().catch(() => undefined);
      },
    });
  })();
}
