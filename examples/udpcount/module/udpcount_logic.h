/* SPDX-License-Identifier: GPL-2.0 */
/*
 * udpcount's decisions, apart from the hooks and sockets around them, so
 * that its KUnit suite (../kunit) tests the very code the module runs.
 */
#ifndef _UDPCOUNT_LOGIC_H
#define _UDPCOUNT_LOGIC_H

#include <linux/ip.h>
#include <linux/skbuff.h>
#include <linux/udp.h>
#include <net/ip.h>

#define UDPCOUNT_EVERY_MAX	1000000

/* Whether "every" may be set to @value. */
static inline bool udpcount_every_valid(unsigned int value)
{
	return value && value <= UDPCOUNT_EVERY_MAX;
}

/* Whether a port's @count calls for a notification. */
static inline bool udpcount_is_due(u64 count, unsigned int every)
{
	return every && count % every == 0;
}

/*
 * The UDP destination port of an IPv4 datagram whose network header is
 * set, in host order; false for anything else. Only a first fragment
 * carries the UDP header.
 */
static inline bool udpcount_dest_port(const struct sk_buff *skb, u16 *port)
{
	const struct iphdr *iph = ip_hdr(skb);
	const struct udphdr *uh;
	struct udphdr _uh;

	if (iph->protocol != IPPROTO_UDP || (iph->frag_off & htons(IP_OFFSET)))
		return false;
	uh = skb_header_pointer(skb, ip_hdrlen(skb), sizeof(_uh), &_uh);
	if (!uh)
		return false;
	*port = ntohs(uh->dest);
	return true;
}

#endif /* _UDPCOUNT_LOGIC_H */
