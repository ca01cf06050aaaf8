/* SPDX-License-Identifier: GPL-2.0 */
/* Internal interfaces shared by the kulink channels. */
#ifndef _KULINK_INTERNAL_H
#define _KULINK_INTERNAL_H

#include <linux/atomic.h>
#include <linux/hrtimer.h>
#include <linux/kfifo.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <net/net_namespace.h>

#include "uapi/kulink.h"

struct netlink_ext_ack;

#define KULINK_VERSION "0.2.0"

/*
 * Counters, indexed by their KULINK_STAT_* attribute. The slots of
 * KULINK_STAT_UNSPEC, _PAD and _SUBSCRIBERS (a gauge) stay unused.
 */
struct kulink_stats {
	atomic64_t count[__KULINK_STAT_MAX];
};

#define kulink_count(kn, name) \
	atomic64_inc(&(kn)->stats.count[KULINK_STAT_##name])

/* Settings under /proc/sys/kulink (sysctl.c). */
struct kulink_config {
	int enabled;		/* 0: report nothing */
	unsigned int icmp_types; /* bit N set: report ICMP type N (N < 32) */
	int batch;		/* events per multicast netlink message */
	int ring_pages;		/* data pages of an mmap ring */
	int umh_rate;		/* usermode helper runs per second */
};

extern struct kulink_config kulink_config;

/* The most recent events, as text for procfs and kulinkfs (log.c). */
#define KULINK_LOG_SIZE 256

struct kulink_log {
	spinlock_t lock;
	unsigned int next;
	unsigned int count;
	struct kulink_event events[KULINK_LOG_SIZE];
};

/* A run of the event generator (generate.c). */
struct kulink_gen {
	struct hrtimer timer;
	u64 start_ns;
	u32 count;	/* events to publish */
	u32 emitted;
	u32 rate;	/* events per second; 0: as fast as the budget allows */
	u32 channels;	/* KULINK_CHAN_* */
	u16 run;	/* echo_id of its events */
	bool busy;
};

/* Per network namespace state (net_generic). */
struct kulink_net {
	struct net *net;
	atomic64_t next_seq;
	struct kulink_stats stats;
	struct kulink_log log;

	/* Unicast subscribers: RCU for the hook, sub_lock for writers. */
	spinlock_t sub_lock;
	struct list_head subscribers;
	unsigned int nr_subscribers;

	/* Multicast batching (netlink.c). */
	spinlock_t batch_lock;
	struct sk_buff *batch_skb;
	void *batch_hdr;
	int batch_count;
	struct timer_list batch_timer;

	/* Open /dev/kulink files: RCU for the hook, files_lock for writers. */
	spinlock_t files_lock;
	struct list_head files;

	/* The sockopt message (sockopt.c), this namespace's own. */
	struct mutex so_lock;
	char so_msg[KULINK_SO_MSG_MAX];

	/* The relay kthread and its queue (relay.c). */
	struct task_struct *relay_thread;
	wait_queue_head_t relay_wait;
	spinlock_t relay_lock;
	DECLARE_KFIFO_PTR(relay_queue, struct kulink_event);

	/* The event generator: gen_lock serialises GENERATE requests. */
	struct mutex gen_lock;
	bool gen_stopped;
	struct kulink_gen gen;
};

struct kulink_net *kulink_pernet(const struct net *net);

/*
 * Who may do what (README, "Security model"): counters are anyone's;
 * reading events and changing a namespace's state need CAP_NET_ADMIN over
 * that network namespace; global settings need it in the initial one.
 */
bool kulink_net_admin(const struct net *net);

/*
 * The one rule for every event, from the wire or written to /dev/kulink:
 * reported only when enabled, of a type below KULINK_ICMP_TYPES and
 * selected in icmp_types; otherwise counted as filtered. A reported event
 * is numbered and handed to every channel. Call with BHs disabled inside
 * an RCU read-side section (the hook's context).
 */
void kulink_event_publish(struct kulink_net *kn, struct kulink_event *ev);
/* The same, to the channels in @channels (KULINK_CHAN_*) only. */
void kulink_event_publish_to(struct kulink_net *kn, struct kulink_event *ev,
			     u32 channels);
void kulink_stats_fill(struct kulink_net *kn, struct kulink_stats_rec *rec);
bool kulink_stat_is_counter(int attr);
u64 kulink_stat_value(struct kulink_net *kn, int attr);
void kulink_stats_reset(struct kulink_net *kn);

/* "seq=... flags=...\n" into @buf; returns the length written. */
int kulink_event_text(const struct kulink_event *ev, char *buf, size_t size);
/* Room for every counter as "name value\n". */
#define KULINK_STATS_TEXT_MAX 1024

/* Text files shared by procfs and kulinkfs: kmalloc'ed, caller frees. */
char *kulink_log_render(struct kulink_net *kn, size_t *len);
char *kulink_stats_render(struct kulink_net *kn, size_t *len);

int kulink_hook_register(struct net *net);
void kulink_hook_unregister(struct net *net);

int kulink_netlink_init(void);
void kulink_netlink_exit(void);
void kulink_netlink_net_init(struct kulink_net *kn);
void kulink_netlink_net_exit(struct kulink_net *kn);
void kulink_netlink_deliver(struct kulink_net *kn,
			    const struct kulink_event *ev);
int kulink_netlink_relay(struct kulink_net *kn, const struct kulink_event *ev);
bool kulink_netlink_relay_wanted(struct kulink_net *kn);

void kulink_log_add(struct kulink_net *kn, const struct kulink_event *ev);
/* Copies up to @max most recent events, oldest first; returns how many. */
unsigned int kulink_log_copy(struct kulink_net *kn, struct kulink_event *out,
			     unsigned int max);

int kulink_procfs_init(void);
void kulink_procfs_exit(void);
int kulink_sysctl_init(void);
void kulink_sysctl_exit(void);
int kulink_sysfs_init(void);
void kulink_sysfs_exit(void);
int kulink_fs_init(void);
void kulink_fs_exit(void);
int kulink_sockopt_init(void);
void kulink_sockopt_exit(void);

int kulink_chardev_init(void);
void kulink_chardev_exit(void);
void kulink_chardev_deliver(struct kulink_net *kn,
			    const struct kulink_event *ev);

int kulink_relay_net_init(struct kulink_net *kn);
void kulink_relay_net_exit(struct kulink_net *kn);
void kulink_relay_queue(struct kulink_net *kn, const struct kulink_event *ev);

void kulink_gen_net_init(struct kulink_net *kn);
void kulink_gen_net_stop(struct kulink_net *kn);
int kulink_gen_start(struct kulink_net *kn, u32 count, u32 rate, u32 channels,
		     struct netlink_ext_ack *extack);

int kulink_umh_init(void);
void kulink_umh_exit(void);
void kulink_umh_queue(struct kulink_net *kn, const struct kulink_event *ev);

#endif /* _KULINK_INTERNAL_H */
