/* SPDX-License-Identifier: GPL-2.0 */
/* Internal interfaces shared by the kulink channels. */
#ifndef _KULINK_H
#define _KULINK_H

#include <linux/atomic.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <net/net_namespace.h>

#include "uapi/kulink.h"

struct kulink_stats {
	atomic64_t packets_seen;
	atomic64_t icmp_seen;
	atomic64_t icmp_truncated;
	atomic64_t events_built;
	atomic64_t mcast_sent;
	atomic64_t mcast_no_listener;
	atomic64_t mcast_failed;
	atomic64_t unicast_sent;
	atomic64_t unicast_failed;
	atomic64_t subscribers_closed;
};

/* Per network namespace state (net_generic). */
struct kulink_net {
	struct net *net;
	atomic64_t next_seq;
	struct kulink_stats stats;

	/* Unicast subscribers: RCU for the hook, sub_lock for writers. */
	spinlock_t sub_lock;
	struct list_head subscribers;
	unsigned int nr_subscribers;
};

struct kulink_net *kulink_pernet(const struct net *net);

/* Number an event and hand it to every channel; callable in softirq. */
void kulink_event_publish(struct kulink_net *kn, struct kulink_event *ev);

int kulink_hook_register(struct net *net);
void kulink_hook_unregister(struct net *net);

int kulink_netlink_init(void);
void kulink_netlink_exit(void);
void kulink_netlink_net_exit(struct kulink_net *kn);
void kulink_netlink_deliver(struct kulink_net *kn,
			    const struct kulink_event *ev);

#endif /* _KULINK_H */
