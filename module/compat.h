/* SPDX-License-Identifier: GPL-2.0 */
/* Every kernel-version difference kulink bridges lives here. */
#ifndef _KULINK_COMPAT_H
#define _KULINK_COMPAT_H

#include <linux/version.h>
#include <net/genetlink.h>

/* Only some kernels can restrict who joins a multicast group. */
#ifdef GENL_MCAST_CAP_NET_ADMIN
#define KULINK_MCGRP_FLAGS GENL_MCAST_CAP_NET_ADMIN
#else
#define KULINK_MCGRP_FLAGS 0
#endif

#endif /* _KULINK_COMPAT_H */
