/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/* udpcount's generic netlink family; ../udpcount.yaml describes it. */
#ifndef _UAPI_UDPCOUNT_H
#define _UAPI_UDPCOUNT_H

#define UDPCOUNT_GENL_NAME	"udpcount"
#define UDPCOUNT_GENL_VERSION	1
#define UDPCOUNT_MCGRP_NOTIFY	"notify"

enum udpcount_cmd {
	UDPCOUNT_CMD_UNSPEC,
	UDPCOUNT_CMD_NOTIFY,	/* kernel -> user: a port reached a multiple of every */
	UDPCOUNT_CMD_GET,	/* one port's count, or a dump of every port seen */
	__UDPCOUNT_CMD_MAX,
};
#define UDPCOUNT_CMD_MAX (__UDPCOUNT_CMD_MAX - 1)

enum udpcount_attr {
	UDPCOUNT_A_UNSPEC,
	UDPCOUNT_A_PORT,	/* u16: UDP destination port */
	UDPCOUNT_A_COUNT,	/* u64: datagrams to that port so far */
	UDPCOUNT_A_PAD,
	__UDPCOUNT_A_MAX,
};
#define UDPCOUNT_A_MAX (__UDPCOUNT_A_MAX - 1)

#endif /* _UAPI_UDPCOUNT_H */
