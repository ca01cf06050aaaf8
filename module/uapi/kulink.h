/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kulink user-space ABI: the single source of truth for everything that
 * crosses between kulink.ko and user space. The Rust crate kulink-wire
 * mirrors it and a test compiles this header to check every value.
 */
#ifndef _UAPI_KULINK_H
#define _UAPI_KULINK_H

#include <linux/types.h>

#define KULINK_GENL_NAME	"kulink"
#define KULINK_GENL_VERSION	1
#define KULINK_MCGRP_EVENTS	"events"

enum kulink_cmd {
	KULINK_CMD_UNSPEC,
	KULINK_CMD_EVENT,	/* kernel -> user: one or more KULINK_A_EVENT */
	KULINK_CMD_SUBSCRIBE,	/* register the sender's port id for unicast */
	KULINK_CMD_UNSUBSCRIBE,	/* drop the sender's port id */
	KULINK_CMD_GET_STATS,	/* reply carries one KULINK_A_STATS */
	__KULINK_CMD_MAX,
};
#define KULINK_CMD_MAX (__KULINK_CMD_MAX - 1)

enum kulink_attr {
	KULINK_A_UNSPEC,
	KULINK_A_EVENT,		/* nest of enum kulink_event_attr */
	KULINK_A_STATS,		/* nest of enum kulink_stat_attr */
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

/* The event did not come from the wire but from a user-space write. */
#define KULINK_EVF_SYNTHETIC	(1U << 0)

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
	__KULINK_STAT_MAX,
};
#define KULINK_STAT_MAX (__KULINK_STAT_MAX - 1)

/* Most unicast subscribers one network namespace accepts. */
#define KULINK_MAX_SUBSCRIBERS	16

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

#endif /* _UAPI_KULINK_H */
