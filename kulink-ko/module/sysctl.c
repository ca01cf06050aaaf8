// SPDX-License-Identifier: GPL-2.0
/* /proc/sys/kulink: what is reported and how; limits enforced on write. */
#include <linux/sysctl.h>

#include "compat.h"
#include "internal.h"

static int kulink_zero;
static int kulink_one = 1;
static int kulink_batch_max = KULINK_BATCH_MAX;
static int kulink_ring_pages_max = KULINK_RING_PAGES_MAX;
static int kulink_umh_rate_max = KULINK_UMH_RATE_MAX;

static struct ctl_table kulink_sysctl_table[] = {
	{
		.procname = "enabled",
		.data = &kulink_config.enabled,
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = &kulink_zero,
		.extra2 = &kulink_one,
	},
	{
		.procname = "icmp_types",
		.data = &kulink_config.icmp_types,
		.maxlen = sizeof(unsigned int),
		.mode = 0644,
		.proc_handler = proc_douintvec,
	},
	{
		.procname = "batch",
		.data = &kulink_config.batch,
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = &kulink_one,
		.extra2 = &kulink_batch_max,
	},
	{
		.procname = "ring_pages",
		.data = &kulink_config.ring_pages,
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = &kulink_one,
		.extra2 = &kulink_ring_pages_max,
	},
	{
		.procname = "umh_rate",
		.data = &kulink_config.umh_rate,
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = &kulink_zero,
		.extra2 = &kulink_umh_rate_max,
	},
	KULINK_CTL_SENTINEL
};

static struct ctl_table_header *kulink_sysctl_header;

int kulink_sysctl_init(void)
{
	kulink_sysctl_header = register_sysctl("kulink", kulink_sysctl_table);
	return kulink_sysctl_header ? 0 : -ENOMEM;
}

void kulink_sysctl_exit(void)
{
	unregister_sysctl_table(kulink_sysctl_header);
}
