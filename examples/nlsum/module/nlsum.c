// SPDX-License-Identifier: GPL-2.0
/*
 * nlsum: a classic netlink protocol of its own, as the kernel-user
 * literature teaches it. User space sends NLSUM_MSG_ADD with a number; the
 * module adds it to its total, answers the sender with NLSUM_MSG_TOTAL and
 * multicasts the same total to group NLSUM_GROUP_TOTALS.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/mutex.h>
#include <net/net_namespace.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "nlsum.h"

static int unit = NLSUM_PROTOCOL;
module_param(unit, int, 0444);
MODULE_PARM_DESC(unit, "The netlink protocol number, below 32 and unused");

static struct sock *nlsum_sock;

/* The sum and how many numbers made it. */
static DEFINE_MUTEX(nlsum_lock);
static u64 nlsum_sum;
static u32 nlsum_count;

static struct sk_buff *nlsum_total_msg(u32 seq, const struct nlsum_total *total)
{
	struct sk_buff *skb = nlmsg_new(sizeof(*total), GFP_KERNEL);
	struct nlmsghdr *nlh;

	if (!skb)
		return NULL;
	nlh = nlmsg_put(skb, 0, seq, NLSUM_MSG_TOTAL, sizeof(*total), 0);
	if (!nlh) {
		kfree_skb(skb);
		return NULL;
	}
	memcpy(nlmsg_data(nlh), total, sizeof(*total));
	nlmsg_end(skb, nlh);
	return skb;
}

/* Runs in the sender's system call: it may sleep. */
static int nlsum_add(struct sk_buff *skb, struct nlmsghdr *nlh,
		     struct netlink_ext_ack *extack)
{
	struct nlsum_total total = {};
	struct sk_buff *reply, *event;
	const struct nlsum_add *add;
	int err;

	if (nlh->nlmsg_type != NLSUM_MSG_ADD) {
		NL_SET_ERR_MSG(extack, "nlsum: unknown message type");
		return -EOPNOTSUPP;
	}
	if (nlmsg_len(nlh) != sizeof(*add)) {
		NL_SET_ERR_MSG(extack, "nlsum: an add carries one __u32");
		return -EINVAL;
	}
	add = nlmsg_data(nlh);

	mutex_lock(&nlsum_lock);
	nlsum_sum += add->value;
	nlsum_count++;
	total.total = nlsum_sum;
	total.count = nlsum_count;
	mutex_unlock(&nlsum_lock);

	reply = nlsum_total_msg(nlh->nlmsg_seq, &total);
	event = nlsum_total_msg(0, &total);
	if (!reply || !event) {
		kfree_skb(reply);
		kfree_skb(event);
		return -ENOMEM;
	}
	/* Both calls consume their skb, whatever they return. */
	err = nlmsg_unicast(nlsum_sock, reply, NETLINK_CB(skb).portid);
	if (err) {
		kfree_skb(event);
		return err;
	}
	/* A group nobody joined (-ESRCH) is no failure of the add. */
	nlmsg_multicast(nlsum_sock, event, 0, NLSUM_GROUP_TOTALS, GFP_KERNEL);
	return 0;
}

static void nlsum_input(struct sk_buff *skb)
{
	/* Checks each header, answers errors and NLM_F_ACK. */
	netlink_rcv_skb(skb, nlsum_add);
}

static int __init nlsum_init(void)
{
	struct netlink_kernel_cfg cfg = {
		.groups = NLSUM_GROUP_TOTALS,
		.input = nlsum_input,
		.flags = NL_CFG_F_NONROOT_RECV,
	};

	if (unit < 0 || unit >= MAX_LINKS) {
		pr_err("unit %d: netlink protocols are 0 to %d\n", unit, MAX_LINKS - 1);
		return -EINVAL;
	}
	nlsum_sock = netlink_kernel_create(&init_net, unit, &cfg);
	if (!nlsum_sock) {
		pr_err("netlink protocol %d is taken\n", unit);
		return -EBUSY;
	}
	pr_info("netlink protocol %d ready\n", unit);
	return 0;
}

static void __exit nlsum_exit(void)
{
	netlink_kernel_release(nlsum_sock);
}

module_init(nlsum_init);
module_exit(nlsum_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Sums numbers sent over a netlink protocol of its own");
