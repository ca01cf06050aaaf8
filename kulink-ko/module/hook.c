// SPDX-License-Identifier: GPL-2.0
/* The netfilter hook: turns each IPv4 ICMP packet into a kulink event. */
#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/skbuff.h>
#include <linux/timekeeping.h>
#include <net/ip.h>

#include "internal.h"

static bool icmp_has_id_seq(u8 type)
{
	return type < KULINK_ICMP_TYPES && (KULINK_ICMP_ID_SEQ_TYPES & BIT(type));
}

/* Runs in softirq context: nothing here may sleep. */
static unsigned int kulink_hook(void *priv, struct sk_buff *skb,
				const struct nf_hook_state *state)
{
	struct kulink_net *kn = kulink_pernet(state->net);
	const struct iphdr *iph = ip_hdr(skb);
	struct kulink_event ev = {};
	const struct icmphdr *ih;
	struct icmphdr buf;

	kulink_count(kn, PACKETS_SEEN);
	if (iph->protocol != IPPROTO_ICMP)
		return NF_ACCEPT;
	/* Only the first fragment carries the ICMP header. */
	if (ntohs(iph->frag_off) & IP_OFFSET)
		return NF_ACCEPT;
	kulink_count(kn, ICMP_SEEN);

	/* Copies when the header is not linear; NULL when it is truncated. */
	ih = skb_header_pointer(skb, ip_hdrlen(skb), sizeof(buf), &buf);
	if (!ih) {
		kulink_count(kn, ICMP_TRUNCATED);
		return NF_ACCEPT;
	}

	ev.tstamp_ns = ktime_get_ns();
	ev.ifindex = state->in ? state->in->ifindex : 0;
	ev.saddr = iph->saddr;
	ev.daddr = iph->daddr;
	ev.len = ntohs(iph->tot_len);
	ev.type = ih->type;
	ev.code = ih->code;
	if (icmp_has_id_seq(ih->type)) {
		ev.echo_id = ntohs(ih->un.echo.id);
		ev.echo_seq = ntohs(ih->un.echo.sequence);
	}
	kulink_event_publish(kn, &ev);
	return NF_ACCEPT;
}

static const struct nf_hook_ops kulink_hook_ops = {
	.hook = kulink_hook,
	.pf = NFPROTO_IPV4,
	.hooknum = NF_INET_PRE_ROUTING,
	.priority = NF_IP_PRI_FIRST,
};

int __net_init kulink_hook_register(struct net *net)
{
	return nf_register_net_hook(net, &kulink_hook_ops);
}

void __net_exit kulink_hook_unregister(struct net *net)
{
	nf_unregister_net_hook(net, &kulink_hook_ops);
}
