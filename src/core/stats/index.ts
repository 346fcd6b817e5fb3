export { StatsService, type StatsOptions } from "./service.js";
export { ProgramStatsSwitch } from "./program-stats.js";
export type * from "./snapshot.js";
