#!/usr/bin/env node
// The plexus command. Built by `npm run build` (tsc) into dist/.
import process from "node:process";
import { main } from "../dist/src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
