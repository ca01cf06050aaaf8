// SPDX-License-Identifier: GPL-2.0
/*
 * Generic netlink family "kulink": events to the multicast group and to
 * every registered unicast subscriber, SUBSCRIBE / UNSUBSCRIBE, GET_STATS.
 * A subscriber whose socket closes is dropped through the netlink notifier.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "compat.h"
#include "internal.h"

enum kulink_mcgrp_index { KULINK_MCGRP_EVENTS_IDX, KULINK_MCGRP_RELAY_IDX };

struct kulink_subscriber {
	struct list_head node;
	struct rcu_head rcu;
	u32 portid;
};

/* Only GENERATE carries attributes; strict validation rejects the rest. */
static const struct nla_policy kulink_genl_policy[KULINK_A_MAX + 1] = {
	[KULINK_A_EVENT] = { .type = NLA_REJECT },
	[KULINK_A_STATS] = { .type = NLA_REJECT },
	[KULINK_A_GEN_COUNT] = { .type = NLA_REJECT },
	[KULINK_A_GEN_RATE] = { .type = NLA_REJECT },
	[KULINK_A_GEN_CHANNELS] = { .type = NLA_REJECT },
};

/* The generator's limits are checked in kulink_gen_start(), with extack. */
static const struct nla_policy kulink_generate_policy[KULINK_A_MAX + 1] = {
	[KULINK_A_EVENT] = { .type = NLA_REJECT },
	[KULINK_A_STATS] = { .type = NLA_REJECT },
	[KULINK_A_GEN_COUNT] = { .type = NLA_U32 },
	[KULINK_A_GEN_RATE] = { .type = NLA_U32 },
	[KULINK_A_GEN_CHANNELS] = { .type = NLA_U32 },
};

static struct genl_family kulink_family;

static size_t kulink_event_msg_size(void)
{
	return nla_total_size(0) +			/* KULINK_A_EVENT */
	       2 * nla_total_size_64bit(sizeof(u64)) +	/* seq, tstamp */
	       5 * nla_total_size(sizeof(u32)) +	/* ifindex, addrs, len, flags */
	       2 * nla_total_size(sizeof(u16)) +	/* echo id, seq */
	       2 * nla_total_size(sizeof(u8));		/* type, code */
}

static int kulink_put_event(struct sk_buff *skb, const struct kulink_event *ev)
{
	struct nlattr *nest = nla_nest_start(skb, KULINK_A_EVENT);

	if (!nest ||
	    nla_put_u64_64bit(skb, KULINK_EV_SEQ, ev->seq, KULINK_EV_PAD) ||
	    nla_put_u64_64bit(skb, KULINK_EV_TSTAMP_NS, ev->tstamp_ns,
			      KULINK_EV_PAD) ||
	    nla_put_u32(skb, KULINK_EV_IFINDEX, ev->ifindex) ||
	    nla_put_in_addr(skb, KULINK_EV_SADDR, ev->saddr) ||
	    nla_put_in_addr(skb, KULINK_EV_DADDR, ev->daddr) ||
	    nla_put_u8(skb, KULINK_EV_TYPE, ev->type) ||
	    nla_put_u8(skb, KULINK_EV_CODE, ev->code) ||
	    nla_put_u16(skb, KULINK_EV_ECHO_ID, ev->echo_id) ||
	    nla_put_u16(skb, KULINK_EV_ECHO_SEQ, ev->echo_seq) ||
	    nla_put_u32(skb, KULINK_EV_LEN, ev->len) ||
	    nla_put_u32(skb, KULINK_EV_FLAGS, ev->flags))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

static struct sk_buff *kulink_event_msg(const struct kulink_event *ev,
					gfp_t gfp)
{
	struct sk_buff *skb;
	void *hdr;

	skb = genlmsg_new(kulink_event_msg_size(), gfp);
	if (!skb)
		return NULL;
	hdr = genlmsg_put(skb, 0, 0, &kulink_family, 0, KULINK_CMD_EVENT);
	if (!hdr || kulink_put_event(skb, ev)) {
		nlmsg_free(skb);
		return NULL;
	}
	genlmsg_end(skb, hdr);
	return skb;
}

/* A message lost whole loses every event it carries: both are counted. */
static void kulink_multicast_failed(struct kulink_net *kn, int events)
{
	kulink_count(kn, MCAST_FAILED);
	atomic64_add(events, &kn->stats.count[KULINK_STAT_MCAST_EVENTS_FAILED]);
}

static void kulink_multicast_send(struct kulink_net *kn, struct sk_buff *skb,
				  int events)
{
	int err;

	err = genlmsg_multicast_netns(&kulink_family, kn->net, skb, 0,
				      KULINK_MCGRP_EVENTS_IDX, GFP_ATOMIC);
	if (!err)
		kulink_count(kn, MCAST_SENT);
	else if (err == -ESRCH)
		kulink_count(kn, MCAST_NO_LISTENER);
	else
		kulink_multicast_failed(kn, events);
}

/* Sends the pending batch, if any. Caller holds kn->batch_lock. */
static void kulink_batch_flush(struct kulink_net *kn)
{
	struct sk_buff *skb = kn->batch_skb;
	int events = kn->batch_count;

	if (!skb)
		return;
	genlmsg_end(skb, kn->batch_hdr);
	kn->batch_skb = NULL;
	kn->batch_count = 0;
	kulink_multicast_send(kn, skb, events);
}

/* Starts a batch; a timer sends it if it does not fill up in a tick. */
static bool kulink_batch_start(struct kulink_net *kn, int batch)
{
	kn->batch_skb = genlmsg_new(batch * kulink_event_msg_size(), GFP_ATOMIC);
	if (!kn->batch_skb)
		return false;
	kn->batch_hdr = genlmsg_put(kn->batch_skb, 0, 0, &kulink_family, 0,
				    KULINK_CMD_EVENT);
	if (!kn->batch_hdr) {
		nlmsg_free(kn->batch_skb);
		kn->batch_skb = NULL;
		return false;
	}
	mod_timer(&kn->batch_timer, jiffies + 1);
	return true;
}

static void kulink_batch_add(struct kulink_net *kn,
			     const struct kulink_event *ev, int batch)
{
	spin_lock_bh(&kn->batch_lock);
	if (kn->batch_skb && kulink_put_event(kn->batch_skb, ev)) {
		/* No room left: send what we have, start again. */
		kulink_batch_flush(kn);
	}
	if (!kn->batch_skb) {
		if (!kulink_batch_start(kn, batch) ||
		    kulink_put_event(kn->batch_skb, ev)) {
			kulink_multicast_failed(kn, 1);
			goto out;
		}
	}
	if (++kn->batch_count >= batch)
		kulink_batch_flush(kn);
out:
	spin_unlock_bh(&kn->batch_lock);
}

static void kulink_batch_timeout(struct timer_list *t)
{
	struct kulink_net *kn = timer_container_of(kn, t, batch_timer);

	spin_lock_bh(&kn->batch_lock);
	kulink_batch_flush(kn);
	spin_unlock_bh(&kn->batch_lock);
}

static void kulink_deliver_multicast(struct kulink_net *kn,
				     const struct kulink_event *ev)
{
	int batch = READ_ONCE(kulink_config.batch);
	struct sk_buff *skb;

	if (!genl_has_listeners(&kulink_family, kn->net,
				KULINK_MCGRP_EVENTS_IDX)) {
		kulink_count(kn, MCAST_NO_LISTENER);
		return;
	}
	if (batch > 1) {
		kulink_batch_add(kn, ev, batch);
		return;
	}
	skb = kulink_event_msg(ev, GFP_ATOMIC);
	if (!skb) {
		kulink_multicast_failed(kn, 1);
		return;
	}
	kulink_multicast_send(kn, skb, 1);
}

bool kulink_netlink_relay_wanted(struct kulink_net *kn)
{
	return genl_has_listeners(&kulink_family, kn->net,
				  KULINK_MCGRP_RELAY_IDX);
}

/* Called by the relay kthread, in process context. */
int kulink_netlink_relay(struct kulink_net *kn, const struct kulink_event *ev)
{
	struct sk_buff *skb;
	int err;

	if (!genl_has_listeners(&kulink_family, kn->net,
				KULINK_MCGRP_RELAY_IDX))
		return -ESRCH;
	skb = kulink_event_msg(ev, GFP_KERNEL);
	if (!skb)
		return -ENOMEM;
	err = genlmsg_multicast_netns(&kulink_family, kn->net, skb, 0,
				      KULINK_MCGRP_RELAY_IDX, GFP_KERNEL);
	return err;
}

/* Caller holds kn->sub_lock. */
static void kulink_subscriber_del(struct kulink_net *kn,
				  struct kulink_subscriber *sub)
{
	list_del_rcu(&sub->node);
	kn->nr_subscribers--;
	kfree_rcu(sub, rcu);
}

/* Drops @portid if subscribed; true when it was. Any context. */
static bool kulink_subscriber_remove(struct kulink_net *kn, u32 portid)
{
	struct kulink_subscriber *sub;
	unsigned long flags;
	bool found = false;

	spin_lock_irqsave(&kn->sub_lock, flags);
	list_for_each_entry(sub, &kn->subscribers, node) {
		if (sub->portid == portid) {
			kulink_subscriber_del(kn, sub);
			found = true;
			break;
		}
	}
	spin_unlock_irqrestore(&kn->sub_lock, flags);
	return found;
}

static void kulink_deliver_unicast(struct kulink_net *kn,
				   const struct kulink_event *ev)
{
	struct kulink_subscriber *sub;
	struct sk_buff *skb;
	int err;

	/* The hook runs inside an RCU read-side section. */
	list_for_each_entry_rcu(sub, &kn->subscribers, node) {
		skb = kulink_event_msg(ev, GFP_ATOMIC);
		if (!skb) {
			kulink_count(kn, UNICAST_FAILED);
			continue;
		}
		/* Non-blocking: a full receiver yields -EAGAIN, never a sleep. */
		err = genlmsg_unicast(kn->net, skb, sub->portid);
		if (!err) {
			kulink_count(kn, UNICAST_SENT);
		} else if (err == -ECONNREFUSED) {
			/* Socket gone before its release notifier ran. */
			if (kulink_subscriber_remove(kn, sub->portid))
				kulink_count(kn, SUBSCRIBERS_CLOSED);
		} else {
			kulink_count(kn, UNICAST_FAILED);
		}
	}
}

void kulink_netlink_deliver(struct kulink_net *kn,
			    const struct kulink_event *ev)
{
	kulink_deliver_multicast(kn, ev);
	kulink_deliver_unicast(kn, ev);
}

static int kulink_cmd_subscribe(struct sk_buff *skb, struct genl_info *info)
{
	struct kulink_net *kn = kulink_pernet(genl_info_net(info));
	struct kulink_subscriber *sub, *pos;
	unsigned long flags;
	int err = 0;

	sub = kzalloc(sizeof(*sub), GFP_KERNEL);
	if (!sub)
		return -ENOMEM;
	sub->portid = info->snd_portid;

	spin_lock_irqsave(&kn->sub_lock, flags);
	list_for_each_entry(pos, &kn->subscribers, node) {
		if (pos->portid == sub->portid) {
			err = -EEXIST;
			break;
		}
	}
	if (!err && kn->nr_subscribers >= KULINK_MAX_SUBSCRIBERS)
		err = -ENOSPC;
	if (!err) {
		list_add_tail_rcu(&sub->node, &kn->subscribers);
		kn->nr_subscribers++;
	}
	spin_unlock_irqrestore(&kn->sub_lock, flags);

	if (err == -EEXIST)
		NL_SET_ERR_MSG(info->extack, "port already subscribed");
	else if (err == -ENOSPC)
		NL_SET_ERR_MSG(info->extack, "too many subscribers");
	if (err)
		kfree(sub);
	return err;
}

static int kulink_cmd_unsubscribe(struct sk_buff *skb, struct genl_info *info)
{
	struct kulink_net *kn = kulink_pernet(genl_info_net(info));

	if (!kulink_subscriber_remove(kn, info->snd_portid)) {
		NL_SET_ERR_MSG(info->extack, "port is not subscribed");
		return -ENOENT;
	}
	return 0;
}

static int kulink_put_stats(struct sk_buff *skb, struct kulink_net *kn)
{
	struct nlattr *nest = nla_nest_start(skb, KULINK_A_STATS);
	int attr;

	if (!nest)
		return -EMSGSIZE;
	for (attr = 0; attr < __KULINK_STAT_MAX; attr++) {
		if (kulink_stat_is_counter(attr) &&
		    nla_put_u64_64bit(skb, attr, kulink_stat_value(kn, attr),
				      KULINK_STAT_PAD))
			return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int kulink_cmd_get_stats(struct sk_buff *skb, struct genl_info *info)
{
	struct kulink_net *kn = kulink_pernet(genl_info_net(info));
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &kulink_family, 0,
				KULINK_CMD_GET_STATS);
	if (!hdr || kulink_put_stats(msg, kn)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int kulink_cmd_generate(struct sk_buff *skb, struct genl_info *info)
{
	struct kulink_net *kn = kulink_pernet(genl_info_net(info));
	struct nlattr **attrs = info->attrs;
	u32 rate = 0;

	if (!attrs[KULINK_A_GEN_COUNT] || !attrs[KULINK_A_GEN_CHANNELS]) {
		NL_SET_ERR_MSG(info->extack, "GENERATE needs a count and channels");
		return -EINVAL;
	}
	if (attrs[KULINK_A_GEN_RATE])
		rate = nla_get_u32(attrs[KULINK_A_GEN_RATE]);
	return kulink_gen_start(kn, nla_get_u32(attrs[KULINK_A_GEN_COUNT]), rate,
				nla_get_u32(attrs[KULINK_A_GEN_CHANNELS]),
				info->extack);
}

static const struct genl_ops kulink_genl_ops[] = {
	{
		.cmd = KULINK_CMD_SUBSCRIBE,
		.doit = kulink_cmd_subscribe,
		.policy = kulink_genl_policy,
		.maxattr = KULINK_A_MAX,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = KULINK_CMD_UNSUBSCRIBE,
		.doit = kulink_cmd_unsubscribe,
		.policy = kulink_genl_policy,
		.maxattr = KULINK_A_MAX,
		.flags = GENL_UNS_ADMIN_PERM,
	},
	{
		.cmd = KULINK_CMD_GET_STATS,
		.doit = kulink_cmd_get_stats,
		.policy = kulink_genl_policy,
		.maxattr = KULINK_A_MAX,
	},
	{
		.cmd = KULINK_CMD_GENERATE,
		.doit = kulink_cmd_generate,
		.policy = kulink_generate_policy,
		.maxattr = KULINK_A_MAX,
		.flags = GENL_UNS_ADMIN_PERM,
	},
};

static const struct genl_multicast_group kulink_mcgrps[] = {
	[KULINK_MCGRP_EVENTS_IDX] = {
		.name = KULINK_MCGRP_EVENTS,
		.flags = KULINK_MCGRP_FLAGS,
	},
	[KULINK_MCGRP_RELAY_IDX] = {
		.name = KULINK_MCGRP_RELAY,
		.flags = KULINK_MCGRP_FLAGS,
	},
};

static struct genl_family kulink_family __ro_after_init = {
	.name = KULINK_GENL_NAME,
	.version = KULINK_GENL_VERSION,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = kulink_genl_ops,
	.n_ops = ARRAY_SIZE(kulink_genl_ops),
	.mcgrps = kulink_mcgrps,
	.n_mcgrps = ARRAY_SIZE(kulink_mcgrps),
};

/* A generic netlink socket closed: forget it if it was a subscriber. */
static int kulink_netlink_release(struct notifier_block *nb,
				  unsigned long state, void *ptr)
{
	struct netlink_notify *n = ptr;
	struct kulink_net *kn;

	if (state != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC ||
	    !n->portid)
		return NOTIFY_DONE;
	kn = kulink_pernet(n->net);
	if (kulink_subscriber_remove(kn, n->portid))
		kulink_count(kn, SUBSCRIBERS_CLOSED);
	return NOTIFY_DONE;
}

static struct notifier_block kulink_netlink_notifier = {
	.notifier_call = kulink_netlink_release,
};

void kulink_netlink_net_init(struct kulink_net *kn)
{
	spin_lock_init(&kn->batch_lock);
	timer_setup(&kn->batch_timer, kulink_batch_timeout, 0);
}

void kulink_netlink_net_exit(struct kulink_net *kn)
{
	struct kulink_subscriber *sub, *tmp;
	unsigned long flags;

	timer_delete_sync(&kn->batch_timer);
	if (kn->batch_skb)
		nlmsg_free(kn->batch_skb);

	spin_lock_irqsave(&kn->sub_lock, flags);
	list_for_each_entry_safe(sub, tmp, &kn->subscribers, node)
		kulink_subscriber_del(kn, sub);
	spin_unlock_irqrestore(&kn->sub_lock, flags);
}

int kulink_netlink_init(void)
{
	int err;

	err = genl_register_family(&kulink_family);
	if (err) {
		pr_err("cannot register generic netlink family: %d\n", err);
		return err;
	}
	err = netlink_register_notifier(&kulink_netlink_notifier);
	if (err)
		genl_unregister_family(&kulink_family);
	return err;
}

void kulink_netlink_exit(void)
{
	netlink_unregister_notifier(&kulink_netlink_notifier);
	genl_unregister_family(&kulink_family);
}
