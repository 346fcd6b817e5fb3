// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * wire: the smallest network function. Two ports; whatever enters one leaves the other. It is
 * the "hello world" for NF authors and the framework's own yardstick (its cost is the
 * framework's cost).
 */
#include <plexus.h>

PX_NF(wire)
{
	return px_redirect(pc, pc->in_port == 0 ? 1 : 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
