// Parses a Prometheus text exposition with the reference parser (Debian's python3-prometheus-client,
// prometheus_client.parser.text_string_to_metric_families): what a real scraper would read.
import { spawnSync } from "node:child_process";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  samples: Sample[];
}

const SCRIPT = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
print(json.dumps(out))
`;

/** Families as the parser reads them (a parse error fails with the parser's message). */
export function parseExposition(text: string): Family[] {
  // The system's python3 has the Debian package; a pyenv shim on PATH may not.
  const r = spawnSync("/usr/bin/python3", ["-c", SCRIPT], { input: text, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`prometheus_client could not parse the exposition: ${r.stderr}`);
  return JSON.parse(r.stdout) as Family[];
}

/** Every sample, flattened (counter samples keep their _total name). */
export const samples = (families: readonly Family[]): Sample[] => families.flatMap((f) => f.samples);

/** The value of the one sample called `name` with these labels (undefined when absent). */
export function valueOf(
  all: readonly Sample[],
  name: string,
  labels: Record<string, string>,
): number | undefined {
  const hit = all.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (hit.length > 1) throw new Error(`${hit.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return hit[0]?.value;
}
