// The load balancer end to end in tc mode (DNAT; see e2e-dnat.ts).
import { dnatSuite } from "./e2e-dnat.js";

dnatSuite("tc");
