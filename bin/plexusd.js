#!/usr/bin/env node
// plexusd: the hypervisor daemon (the same as `plexus daemon`). Built by `npm run build` into dist/.
import process from "node:process";
import { main } from "../dist/src/cli/main.js";

process.exitCode = await main(["daemon", ...process.argv.slice(2)], "plexusd");
