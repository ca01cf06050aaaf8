// SPDX-License-Identifier: GPL-2.0
/*
 * kulink: report ICMP packets seen at NF_INET_PRE_ROUTING to user space
 * over every classic kernel <-> user channel. This file owns the module
 * life cycle, the per-netns state and the fan-out of events to channels.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "internal.h"

static unsigned int kulink_net_id __read_mostly;

struct kulink_config kulink_config __read_mostly = {
	.enabled = 1,
	.icmp_types = ~0U,
	.batch = 1,
	.ring_pages = 4,
	.umh_rate = KULINK_UMH_RATE_DEFAULT,
};

struct kulink_net *kulink_pernet(const struct net *net)
{
	return net_generic(net, kulink_net_id);
}

bool kulink_net_admin(const struct net *net)
{
	return ns_capable(net->user_ns, CAP_NET_ADMIN);
}

static bool kulink_event_wanted(u8 type)
{
	return READ_ONCE(kulink_config.enabled) && type < KULINK_ICMP_TYPES &&
	       (READ_ONCE(kulink_config.icmp_types) & BIT(type));
}

void kulink_event_publish_to(struct kulink_net *kn, struct kulink_event *ev,
			     u32 channels)
{
	if (!kulink_event_wanted(ev->type)) {
		kulink_count(kn, FILTERED);
		return;
	}
	ev->seq = atomic64_inc_return(&kn->next_seq);
	kulink_count(kn, EVENTS_BUILT);
	if (channels & KULINK_CHAN_NETLINK)
		kulink_netlink_deliver(kn, ev);
	if (channels & KULINK_CHAN_LOG)
		kulink_log_add(kn, ev);
	if (channels & KULINK_CHAN_CHARDEV)
		kulink_chardev_deliver(kn, ev);
	if (channels & KULINK_CHAN_RELAY)
		kulink_relay_queue(kn, ev);
	if (channels & KULINK_CHAN_UMH)
		kulink_umh_queue(kn, ev);
}

void kulink_event_publish(struct kulink_net *kn, struct kulink_event *ev)
{
	kulink_event_publish_to(kn, ev, KULINK_CHAN_ALL);
}

/* Names for text output, in KULINK_STAT_* order. */
static const char * const kulink_stat_names[__KULINK_STAT_MAX] = {
	[KULINK_STAT_PACKETS_SEEN] = "packets_seen",
	[KULINK_STAT_ICMP_SEEN] = "icmp_seen",
	[KULINK_STAT_ICMP_TRUNCATED] = "icmp_truncated",
	[KULINK_STAT_EVENTS_BUILT] = "events_built",
	[KULINK_STAT_MCAST_SENT] = "mcast_sent",
	[KULINK_STAT_MCAST_NO_LISTENER] = "mcast_no_listener",
	[KULINK_STAT_MCAST_FAILED] = "mcast_failed",
	[KULINK_STAT_UNICAST_SENT] = "unicast_sent",
	[KULINK_STAT_UNICAST_FAILED] = "unicast_failed",
	[KULINK_STAT_SUBSCRIBERS] = "subscribers",
	[KULINK_STAT_SUBSCRIBERS_CLOSED] = "subscribers_closed",
	[KULINK_STAT_FILTERED] = "filtered",
	[KULINK_STAT_SYNTHETIC] = "synthetic",
	[KULINK_STAT_CHARDEV_QUEUED] = "chardev_queued",
	[KULINK_STAT_CHARDEV_DROPPED] = "chardev_dropped",
	[KULINK_STAT_RING_WRITTEN] = "ring_written",
	[KULINK_STAT_RING_OVERFLOW] = "ring_overflow",
	[KULINK_STAT_SIGIO_SENT] = "sigio_sent",
	[KULINK_STAT_SIGRT_SENT] = "sigrt_sent",
	[KULINK_STAT_SIGRT_FAILED] = "sigrt_failed",
	[KULINK_STAT_RELAY_SENT] = "relay_sent",
	[KULINK_STAT_RELAY_DROPPED] = "relay_dropped",
	[KULINK_STAT_UMH_RUN] = "umh_run",
	[KULINK_STAT_UMH_LIMITED] = "umh_limited",
	[KULINK_STAT_UMH_FAILED] = "umh_failed",
	[KULINK_STAT_GENERATED] = "generated",
	[KULINK_STAT_MCAST_EVENTS_FAILED] = "mcast_events_failed",
};

bool kulink_stat_is_counter(int attr)
{
	return attr > KULINK_STAT_UNSPEC && attr != KULINK_STAT_PAD;
}

u64 kulink_stat_value(struct kulink_net *kn, int attr)
{
	if (attr == KULINK_STAT_SUBSCRIBERS)
		return READ_ONCE(kn->nr_subscribers);
	return atomic64_read(&kn->stats.count[attr]);
}

/* struct kulink_stats_rec holds every counter, in attribute order. */
void kulink_stats_fill(struct kulink_net *kn, struct kulink_stats_rec *rec)
{
	u64 *out = (u64 *)rec;
	int attr;

	BUILD_BUG_ON(sizeof(*rec) != (__KULINK_STAT_MAX - 2) * sizeof(u64));
	for (attr = 0; attr < __KULINK_STAT_MAX; attr++)
		if (kulink_stat_is_counter(attr))
			*out++ = kulink_stat_value(kn, attr);
}

void kulink_stats_reset(struct kulink_net *kn)
{
	int attr;

	for (attr = 0; attr < __KULINK_STAT_MAX; attr++)
		atomic64_set(&kn->stats.count[attr], 0);
}

static int kulink_stats_text(struct kulink_net *kn, char *buf, size_t size)
{
	int attr, len = 0;

	for (attr = 0; attr < __KULINK_STAT_MAX; attr++)
		if (kulink_stat_is_counter(attr))
			len += scnprintf(buf + len, size - len, "%-20s %llu\n",
					 kulink_stat_names[attr],
					 kulink_stat_value(kn, attr));
	return len;
}

char *kulink_stats_render(struct kulink_net *kn, size_t *len)
{
	char *buf = kmalloc(KULINK_STATS_TEXT_MAX, GFP_KERNEL);

	if (buf)
		*len = kulink_stats_text(kn, buf, KULINK_STATS_TEXT_MAX);
	return buf;
}

int kulink_event_text(const struct kulink_event *ev, char *buf, size_t size)
{
	const u8 *s = (const u8 *)&ev->saddr, *d = (const u8 *)&ev->daddr;

	return scnprintf(buf, size, KULINK_EVENT_TEXT_FMT,
			 (unsigned long long)ev->seq,
			 (unsigned long long)ev->tstamp_ns, ev->ifindex,
			 s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3],
			 ev->type, ev->code, ev->echo_id, ev->echo_seq,
			 ev->len, ev->flags);
}

static int __net_init kulink_state_init(struct net *net)
{
	struct kulink_net *kn = kulink_pernet(net);

	kn->net = net;
	spin_lock_init(&kn->sub_lock);
	INIT_LIST_HEAD(&kn->subscribers);
	spin_lock_init(&kn->files_lock);
	INIT_LIST_HEAD(&kn->files);
	spin_lock_init(&kn->log.lock);
	mutex_init(&kn->so_lock);
	kulink_netlink_net_init(kn);
	kulink_gen_net_init(kn);
	return kulink_relay_net_init(kn);
}

static void __net_exit kulink_state_exit(struct net *net)
{
	struct kulink_net *kn = kulink_pernet(net);

	/* Every open /dev/kulink holds its namespace: none can be left. */
	WARN_ON(!list_empty(&kn->files));
	kulink_relay_net_exit(kn);
	kulink_netlink_net_exit(kn);
}

/* Per-netns state: exists before any channel can look it up. */
static struct pernet_operations kulink_state_ops = {
	.init = kulink_state_init,
	.exit = kulink_state_exit,
	.id = &kulink_net_id,
	.size = sizeof(struct kulink_net),
};

/* The sources of events: the hook and the generator. */
static void __net_exit kulink_sources_exit(struct net *net)
{
	kulink_gen_net_stop(kulink_pernet(net));
	kulink_hook_unregister(net);
}

/* Sources come last and go first: they must never see a missing channel. */
static struct pernet_operations kulink_sources_ops = {
	.init = kulink_hook_register,
	.exit = kulink_sources_exit,
};

struct kulink_part {
	const char *name;
	int (*init)(void);
	void (*exit)(void);
};

/* Brought up in this order, torn down in reverse. */
static const struct kulink_part kulink_parts[] = {
	{ "generic netlink", kulink_netlink_init, kulink_netlink_exit },
	{ "usermode helper", kulink_umh_init, kulink_umh_exit },
	{ "procfs", kulink_procfs_init, kulink_procfs_exit },
	{ "sysctl", kulink_sysctl_init, kulink_sysctl_exit },
	{ "sysfs", kulink_sysfs_init, kulink_sysfs_exit },
	{ "char device", kulink_chardev_init, kulink_chardev_exit },
	{ "sockopt", kulink_sockopt_init, kulink_sockopt_exit },
	{ "kulinkfs", kulink_fs_init, kulink_fs_exit },
};

static void kulink_parts_exit(int count)
{
	while (count-- > 0)
		kulink_parts[count].exit();
}

static int __init kulink_init(void)
{
	int i, err;

	err = register_pernet_subsys(&kulink_state_ops);
	if (err)
		return err;
	for (i = 0; i < ARRAY_SIZE(kulink_parts); i++) {
		err = kulink_parts[i].init();
		if (err) {
			pr_err("cannot set up %s: %d\n", kulink_parts[i].name, err);
			goto err_parts;
		}
	}
	err = register_pernet_subsys(&kulink_sources_ops);
	if (err)
		goto err_parts;
	pr_info("loaded, generic netlink family %s\n", KULINK_GENL_NAME);
	return 0;

err_parts:
	kulink_parts_exit(i);
	unregister_pernet_subsys(&kulink_state_ops);
	return err;
}

static void __exit kulink_exit(void)
{
	unregister_pernet_subsys(&kulink_sources_ops);
	kulink_parts_exit(ARRAY_SIZE(kulink_parts));
	unregister_pernet_subsys(&kulink_state_ops);
	pr_info("unloaded\n");
}

module_init(kulink_init);
module_exit(kulink_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Kernel <-> user channel testbed: ICMP events over netlink and friends");
MODULE_VERSION(KULINK_VERSION);
