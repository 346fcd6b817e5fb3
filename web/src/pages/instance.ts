// One instance: configuration, ports, counters over time, tables, recent events, capture.
import { getJson } from "../api.js";
import { h, replace } from "../ui/dom.js";
import type { InstanceJson } from "../types.js";

export function instancePage(root: HTMLElement, name: string, signal: AbortSignal): void {
  replace(root, h("p", { class: "muted" }, "loading…"));
  void getJson<InstanceJson>(`/v1/instances/${encodeURIComponent(name)}`, signal).then((i) =>
    replace(root, h("section", { class: "panel", "data-instance-page": i.name }, h("h2", {}, i.name))),
  );
}
