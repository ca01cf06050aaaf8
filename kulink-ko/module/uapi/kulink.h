/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kulink user-space ABI: the single source of truth for everything that
 * crosses between kulink.ko and user space. The Rust crate kulink-wire
 * mirrors it and a test compiles this header to check every value.
 */
#ifndef _UAPI_KULINK_H
#define _UAPI_KULINK_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KULINK_GENL_NAME	"kulink"
#define KULINK_GENL_VERSION	1
#define KULINK_MCGRP_EVENTS	"events"	/* sent from the hook (softirq) */
#define KULINK_MCGRP_RELAY	"relay"		/* sent by the relay kthread */

enum kulink_cmd {
	KULINK_CMD_UNSPEC,
	KULINK_CMD_EVENT,	/* kernel -> user: one or more KULINK_A_EVENT */
	KULINK_CMD_SUBSCRIBE,	/* register the sender's port id for unicast */
	KULINK_CMD_UNSUBSCRIBE,	/* drop the sender's port id */
	KULINK_CMD_GET_STATS,	/* reply carries one KULINK_A_STATS */
	KULINK_CMD_GENERATE,	/* start the event generator (gen attributes) */
	__KULINK_CMD_MAX,
};
#define KULINK_CMD_MAX (__KULINK_CMD_MAX - 1)

enum kulink_attr {
	KULINK_A_UNSPEC,
	KULINK_A_EVENT,		/* nest of enum kulink_event_attr */
	KULINK_A_STATS,		/* nest of enum kulink_stat_attr */
	KULINK_A_GEN_COUNT,	/* u32: events to generate, 1..KULINK_GEN_COUNT_MAX */
	KULINK_A_GEN_RATE,	/* u32: events per second; 0 or absent: at once */
	KULINK_A_GEN_CHANNELS,	/* u32: channel bits the events go to */
	__KULINK_A_MAX,
};
#define KULINK_A_MAX (__KULINK_A_MAX - 1)

enum kulink_event_attr {
	KULINK_EV_UNSPEC,
	KULINK_EV_SEQ,		/* u64: per-netns event sequence, first is 1 */
	KULINK_EV_TSTAMP_NS,	/* u64: CLOCK_MONOTONIC when the hook ran */
	KULINK_EV_IFINDEX,	/* u32: input interface */
	KULINK_EV_SADDR,	/* be32: IPv4 source */
	KULINK_EV_DADDR,	/* be32: IPv4 destination */
	KULINK_EV_TYPE,		/* u8: ICMP type */
	KULINK_EV_CODE,		/* u8: ICMP code */
	KULINK_EV_ECHO_ID,	/* u16: identifier (echo, timestamp), else 0 */
	KULINK_EV_ECHO_SEQ,	/* u16: sequence (echo, timestamp), else 0 */
	KULINK_EV_LEN,		/* u32: IPv4 total length */
	KULINK_EV_FLAGS,	/* u32: KULINK_EVF_SYNTHETIC, ... */
	KULINK_EV_PAD,
	__KULINK_EV_MAX,
};
#define KULINK_EV_MAX (__KULINK_EV_MAX - 1)

/* ICMP types 0..KULINK_ICMP_TYPES-1 can be reported (bits of icmp_types). */
#define KULINK_ICMP_TYPES	32

/*
 * Types whose header carries an identifier and a sequence number, a bit
 * per type: echo reply (0), echo (8), timestamp (13), timestamp reply (14).
 * Events of other types report echo_id and echo_seq as 0.
 */
#define KULINK_ICMP_ID_SEQ_TYPES \
	((1U << 0) | (1U << 8) | (1U << 13) | (1U << 14))

/* The event did not come from the wire but from a user-space write. */
#define KULINK_EVF_SYNTHETIC	(1U << 0)
/*
 * The event came from the generator (KULINK_CMD_GENERATE): an echo
 * request of no packet, echo_id the run, echo_seq its index mod 2^16.
 */
#define KULINK_EVF_GENERATED	(1U << 1)

/* Where an event goes, a bit per group of channels. */
#define KULINK_CHAN_NETLINK	(1U << 0) /* "events" group, unicast subscribers */
#define KULINK_CHAN_LOG		(1U << 1) /* procfs and kulinkfs text logs */
#define KULINK_CHAN_CHARDEV	(1U << 2) /* /dev/kulink queues, rings, signals */
#define KULINK_CHAN_RELAY	(1U << 3) /* the kthread and its "relay" group */
#define KULINK_CHAN_UMH		(1U << 4) /* the usermode helper */
#define KULINK_CHAN_ALL		0x1f

/* Limits of one generator run. */
#define KULINK_GEN_COUNT_MAX	10000000
#define KULINK_GEN_RATE_MAX	10000000

enum kulink_stat_attr {
	KULINK_STAT_UNSPEC,
	KULINK_STAT_PACKETS_SEEN,	/* u64: IPv4 packets the hook saw */
	KULINK_STAT_ICMP_SEEN,		/* u64: of those, ICMP */
	KULINK_STAT_ICMP_TRUNCATED,	/* u64: ICMP without a full header */
	KULINK_STAT_EVENTS_BUILT,	/* u64: events numbered and sent out */
	KULINK_STAT_MCAST_SENT,		/* u64: multicast messages delivered */
	KULINK_STAT_MCAST_NO_LISTENER,	/* u64: nobody in the group */
	KULINK_STAT_MCAST_FAILED,	/* u64: alloc failure or overrun */
	KULINK_STAT_UNICAST_SENT,	/* u64: unicast messages delivered */
	KULINK_STAT_UNICAST_FAILED,	/* u64: alloc failure or receiver full */
	KULINK_STAT_SUBSCRIBERS,	/* u64: unicast subscribers now */
	KULINK_STAT_SUBSCRIBERS_CLOSED,	/* u64: dropped because socket closed */
	KULINK_STAT_PAD,
	KULINK_STAT_FILTERED,		/* u64: events not reported (sysctl) */
	KULINK_STAT_SYNTHETIC,		/* u64: events written to /dev/kulink */
	KULINK_STAT_CHARDEV_QUEUED,	/* u64: records queued for read() */
	KULINK_STAT_CHARDEV_DROPPED,	/* u64: a reader's queue was full */
	KULINK_STAT_RING_WRITTEN,	/* u64: records put in mmap rings */
	KULINK_STAT_RING_OVERFLOW,	/* u64: a ring was full */
	KULINK_STAT_SIGIO_SENT,		/* u64: SIGIO notifications */
	KULINK_STAT_SIGRT_SENT,		/* u64: real-time signals queued */
	KULINK_STAT_SIGRT_FAILED,	/* u64: real-time signals refused */
	KULINK_STAT_RELAY_SENT,		/* u64: events the kthread delivered */
	KULINK_STAT_RELAY_DROPPED,	/* u64: relay queue full or send failed */
	KULINK_STAT_UMH_RUN,		/* u64: helper runs started */
	KULINK_STAT_UMH_LIMITED,	/* u64: events over the helper rate */
	KULINK_STAT_UMH_FAILED,		/* u64: helper runs that failed */
	KULINK_STAT_GENERATED,		/* u64: events the generator made */
	KULINK_STAT_MCAST_EVENTS_FAILED,/* u64: events in failed multicasts */
	__KULINK_STAT_MAX,
};
#define KULINK_STAT_MAX (__KULINK_STAT_MAX - 1)

/* Most unicast subscribers one network namespace accepts. */
#define KULINK_MAX_SUBSCRIBERS	16

/* Usermode helper runs per second at load (sysctl umh_rate). */
#define KULINK_UMH_RATE_DEFAULT	100

/* Upper limits of the /proc/sys/kulink knobs, enforced on write. */
#define KULINK_BATCH_MAX	128
#define KULINK_RING_PAGES_MAX	256
#define KULINK_UMH_RATE_MAX	1000

/*
 * One event as a line of text (/proc/kulink/events, kulinkfs `log`, and
 * the usermode helper's arguments). Arguments in order: seq, tstamp_ns,
 * ifindex, the four source octets, the four destination octets, type,
 * code, echo_id, echo_seq, len, flags.
 */
#define KULINK_EVENT_TEXT_FMT \
	"seq=%llu ts=%llu ifindex=%u src=%u.%u.%u.%u dst=%u.%u.%u.%u " \
	"type=%u code=%u id=%u echo_seq=%u len=%u flags=%u\n"

/* Fixed-layout binary form of one event (character device records). */
struct kulink_event {
	__u64 seq;
	__u64 tstamp_ns;
	__u32 ifindex;
	__be32 saddr;
	__be32 daddr;
	__u32 len;
	__u32 flags;
	__u16 echo_id;
	__u16 echo_seq;
	__u8 type;
	__u8 code;
	__u8 reserved[6];
};

/* KULINK_IOC_GET_STATS: every counter, in attribute order. */
struct kulink_stats_rec {
	__u64 packets_seen;
	__u64 icmp_seen;
	__u64 icmp_truncated;
	__u64 events_built;
	__u64 mcast_sent;
	__u64 mcast_no_listener;
	__u64 mcast_failed;
	__u64 unicast_sent;
	__u64 unicast_failed;
	__u64 subscribers;
	__u64 subscribers_closed;
	__u64 filtered;
	__u64 synthetic;
	__u64 chardev_queued;
	__u64 chardev_dropped;
	__u64 ring_written;
	__u64 ring_overflow;
	__u64 sigio_sent;
	__u64 sigrt_sent;
	__u64 sigrt_failed;
	__u64 relay_sent;
	__u64 relay_dropped;
	__u64 umh_run;
	__u64 umh_limited;
	__u64 umh_failed;
	__u64 generated;
	__u64 mcast_events_failed;
};

/* /dev/kulink ioctls. */
#define KULINK_IOC_MAGIC	0xB8
#define KULINK_IOC_GET_STATS	_IOR(KULINK_IOC_MAGIC, 1, struct kulink_stats_rec)
/* This reader's ICMP type mask (bit N: type N), get_user/put_user. */
#define KULINK_IOC_SET_FILTER	_IOW(KULINK_IOC_MAGIC, 2, __u32)
#define KULINK_IOC_GET_FILTER	_IOR(KULINK_IOC_MAGIC, 3, __u32)
/* Zero every counter. */
#define KULINK_IOC_RESET	_IO(KULINK_IOC_MAGIC, 4)
/* Queue signal N (SIGRTMIN..SIGRTMAX, si_int = event seq) to the caller
 * for each event; 0 unregisters. Dropped when the file is closed.
 */
#define KULINK_IOC_SET_SIGNAL	_IOW(KULINK_IOC_MAGIC, 5, __s32)
/* Records this file dropped since it was opened: its queue was full. */
#define KULINK_IOC_GET_DROPPED	_IOR(KULINK_IOC_MAGIC, 6, __u64)

/*
 * mmap() of /dev/kulink: one header page, then ring_pages data pages of
 * records. The kernel produces at head, user space consumes at tail;
 * both are free-running counters, published with release and read with
 * acquire ordering. A full ring drops the new record and counts it.
 * The mapping must be MAP_SHARED and is never executable. While a file is
 * mapped its new records go to the ring; read() still returns what was
 * queued before, then fails with EBUSY. Once the last mapping is gone,
 * records the ring still held (tail to head) go back to the queue, in
 * order, and read() goes on; the file may be mapped again.
 */
#define KULINK_RING_VERSION	1
struct kulink_ring_header {
	__u32 version;
	__u32 record_size;	/* sizeof(struct kulink_event) */
	__u32 capacity;		/* records in the data area */
	__u32 data_offset;	/* bytes from the start of the mapping */
	__u64 head;		/* written by the kernel */
	__u64 tail;		/* written by user space */
	__u64 overflow;		/* records dropped: ring full */
};

/*
 * nf_sockopt range on IPv4 sockets. The message is per network namespace
 * and needs CAP_NET_ADMIN over it; the stats get needs nothing.
 */
#define KULINK_SO_BASE		3200
#define KULINK_SO_SET_MSG	(KULINK_SO_BASE)	/* set: a string */
/* get: KULINK_SO_REPLY, then ", you said: <msg>" once a message was set */
#define KULINK_SO_GET_MSG	(KULINK_SO_BASE)
#define KULINK_SO_GET_STATS	(KULINK_SO_BASE + 1)	/* get: kulink_stats_rec */
#define KULINK_SO_MAX		(KULINK_SO_BASE + 1)
#define KULINK_SO_MSG_MAX	128
#define KULINK_SO_REPLY		"a message from kernel"

/* Where the usermode helper lives in the guest. */
#define KULINK_UMH_PATH		"/sbin/kulink-notify"

#endif /* _UAPI_KULINK_H */
