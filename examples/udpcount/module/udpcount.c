// SPDX-License-Identifier: GPL-2.0
/*
 * udpcount: counts IPv4 UDP datagrams per destination port as they arrive
 * (netfilter PRE_ROUTING, softirq) and multicasts a notification on the
 * generic netlink family "udpcount" each time a port's count reaches a
 * multiple of "every" (module parameter, then /sys/kernel/udpcount/every).
 * GET answers one port's count, or dumps every port seen.
 *
 * kulink's example of a module under test; it is not part of kulink.ko.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/ip.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/sysfs.h>
#include <linux/udp.h>
#include <linux/vmalloc.h>
#include <net/genetlink.h>
#include <net/ip.h>
#include <net/net_namespace.h>

#include "udpcount.h"
#include "udpcount_logic.h"

#define UDPCOUNT_PORTS		65536

static unsigned int every = 4;
module_param(every, uint, 0444);
MODULE_PARM_DESC(every, "notify each time a port's count is a multiple of this (1..1000000)");

/* Datagrams per destination port, and in all. */
static atomic64_t *counts;
static atomic64_t total = ATOMIC64_INIT(0);

static struct genl_family udpcount_family;

enum udpcount_mcgrp { UDPCOUNT_MCGRP_NOTIFY_IDX };

static int udpcount_put(struct sk_buff *skb, u16 port, u64 count)
{
	if (nla_put_u16(skb, UDPCOUNT_A_PORT, port) ||
	    nla_put_u64_64bit(skb, UDPCOUNT_A_COUNT, count, UDPCOUNT_A_PAD))
		return -EMSGSIZE;
	return 0;
}

/* Softirq context: no sleeping allocation, and a lost notice is only lost. */
static void udpcount_notify(u16 port, u64 count)
{
	struct sk_buff *skb;
	void *hdr;

	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_ATOMIC);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &udpcount_family, 0, UDPCOUNT_CMD_NOTIFY);
	if (!hdr || udpcount_put(skb, port, count)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	/* -ESRCH: nobody listens, which is fine. */
	genlmsg_multicast(&udpcount_family, skb, 0, UDPCOUNT_MCGRP_NOTIFY_IDX,
			  GFP_ATOMIC);
}

static unsigned int udpcount_hook(void *priv, struct sk_buff *skb,
				  const struct nf_hook_state *state)
{
	u16 port;
	u64 count;

	if (!udpcount_dest_port(skb, &port))
		return NF_ACCEPT;
	count = atomic64_inc_return(&counts[port]);
	atomic64_inc(&total);
	if (udpcount_is_due(count, READ_ONCE(every)))
		udpcount_notify(port, count);
	return NF_ACCEPT;
}

static const struct nf_hook_ops udpcount_nf_ops = {
	.hook = udpcount_hook,
	.pf = NFPROTO_IPV4,
	.hooknum = NF_INET_PRE_ROUTING,
	.priority = NF_IP_PRI_FIRST,
};

static int udpcount_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	u16 port;
	void *hdr;

	if (!info->attrs[UDPCOUNT_A_PORT]) {
		NL_SET_ERR_MSG(info->extack, "GET needs a port");
		return -EINVAL;
	}
	port = nla_get_u16(info->attrs[UDPCOUNT_A_PORT]);
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &udpcount_family, 0,
				UDPCOUNT_CMD_GET);
	if (!hdr || udpcount_put(msg, port, atomic64_read(&counts[port]))) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* Every port with a count, in port order; cb->args[0] is where to go on. */
static int udpcount_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned long port;

	for (port = cb->args[0]; port < UDPCOUNT_PORTS; port++) {
		u64 count = atomic64_read(&counts[port]);
		void *hdr;

		if (!count)
			continue;
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &udpcount_family,
				  NLM_F_MULTI, UDPCOUNT_CMD_GET);
		if (!hdr)
			break;
		if (udpcount_put(skb, port, count)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
	}
	cb->args[0] = port;
	return skb->len;
}

static const struct nla_policy udpcount_policy[UDPCOUNT_A_MAX + 1] = {
	[UDPCOUNT_A_PORT] = { .type = NLA_U16 },
	[UDPCOUNT_A_COUNT] = { .type = NLA_REJECT },
};

static const struct genl_ops udpcount_ops[] = {
	{
		.cmd = UDPCOUNT_CMD_GET,
		.doit = udpcount_get_doit,
		.dumpit = udpcount_get_dumpit,
		.policy = udpcount_policy,
		.maxattr = UDPCOUNT_A_MAX,
	},
};

static const struct genl_multicast_group udpcount_mcgrps[] = {
	[UDPCOUNT_MCGRP_NOTIFY_IDX] = { .name = UDPCOUNT_MCGRP_NOTIFY },
};

static struct genl_family udpcount_family __ro_after_init = {
	.name = UDPCOUNT_GENL_NAME,
	.version = UDPCOUNT_GENL_VERSION,
	.module = THIS_MODULE,
	.ops = udpcount_ops,
	.n_ops = ARRAY_SIZE(udpcount_ops),
	.mcgrps = udpcount_mcgrps,
	.n_mcgrps = ARRAY_SIZE(udpcount_mcgrps),
};

static ssize_t every_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(every));
}

static ssize_t every_store(struct kobject *kobj, struct kobj_attribute *attr,
			   const char *buf, size_t len)
{
	unsigned int value;
	int err = kstrtouint(buf, 0, &value);

	if (err)
		return err;
	if (!udpcount_every_valid(value))
		return -EINVAL;
	WRITE_ONCE(every, value);
	return len;
}

static ssize_t total_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&total));
}

static struct kobj_attribute every_attr = __ATTR_RW(every);
static struct kobj_attribute total_attr = __ATTR_RO(total);

static struct attribute *udpcount_attrs[] = {
	&every_attr.attr,
	&total_attr.attr,
	NULL,
};

static const struct attribute_group udpcount_group = {
	.attrs = udpcount_attrs,
};

static struct kobject *udpcount_kobj;

static int __init udpcount_init(void)
{
	int err;

	if (!udpcount_every_valid(every)) {
		pr_err("every=%u is not in 1..%u\n", every, UDPCOUNT_EVERY_MAX);
		return -EINVAL;
	}
	counts = vzalloc(UDPCOUNT_PORTS * sizeof(*counts));
	if (!counts)
		return -ENOMEM;
	err = genl_register_family(&udpcount_family);
	if (err)
		goto free_counts;
	udpcount_kobj = kobject_create_and_add("udpcount", kernel_kobj);
	if (!udpcount_kobj) {
		err = -ENOMEM;
		goto unregister_family;
	}
	err = sysfs_create_group(udpcount_kobj, &udpcount_group);
	if (err)
		goto put_kobj;
	err = nf_register_net_hook(&init_net, &udpcount_nf_ops);
	if (err)
		goto put_kobj;
	return 0;

put_kobj:
	kobject_put(udpcount_kobj);
unregister_family:
	genl_unregister_family(&udpcount_family);
free_counts:
	vfree(counts);
	return err;
}

static void __exit udpcount_exit(void)
{
	/* Waits for hooks in flight: nothing counts or notifies after this. */
	nf_unregister_net_hook(&init_net, &udpcount_nf_ops);
	kobject_put(udpcount_kobj);
	genl_unregister_family(&udpcount_family);
	vfree(counts);
}

module_init(udpcount_init);
module_exit(udpcount_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Counts UDP datagrams per port; notifies over generic netlink");
