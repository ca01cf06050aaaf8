/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * nlsum's protocol, for the module and for user space: one netlink unit
 * of its own, two message types and one multicast group.
 */
#ifndef _NLSUM_H
#define _NLSUM_H

#include <linux/types.h>

/* The unit's number (a module parameter may choose another below 32). */
#define NLSUM_PROTOCOL 31

/* User space adds a number: struct nlsum_add. */
#define NLSUM_MSG_ADD 0x10
/* The sum so far: struct nlsum_total, to the sender and to the group. */
#define NLSUM_MSG_TOTAL 0x11

/* Every total, whoever added. */
#define NLSUM_GROUP_TOTALS 1

struct nlsum_add {
	__u32 value;
};

struct nlsum_total {
	__u64 total;
	__u32 count;
	__u32 pad;
};

#endif /* _NLSUM_H */
