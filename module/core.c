// SPDX-License-Identifier: GPL-2.0
/*
 * kulink: report ICMP packets seen at NF_INET_PRE_ROUTING to user space
 * over every classic kernel <-> user channel. This file owns the module
 * life cycle, the per-netns state and the fan-out of events to channels.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <net/netns/generic.h>

#include "kulink.h"

static unsigned int kulink_net_id __read_mostly;

struct kulink_net *kulink_pernet(const struct net *net)
{
	return net_generic(net, kulink_net_id);
}

void kulink_event_publish(struct kulink_net *kn, struct kulink_event *ev)
{
	ev->seq = atomic64_inc_return(&kn->next_seq);
	atomic64_inc(&kn->stats.events_built);
	kulink_netlink_deliver(kn, ev);
}

static int __net_init kulink_state_init(struct net *net)
{
	struct kulink_net *kn = kulink_pernet(net);

	kn->net = net;
	spin_lock_init(&kn->sub_lock);
	INIT_LIST_HEAD(&kn->subscribers);
	return 0;
}

static void __net_exit kulink_state_exit(struct net *net)
{
	kulink_netlink_net_exit(kulink_pernet(net));
}

/* Per-netns state: exists before any channel can look it up. */
static struct pernet_operations kulink_state_ops = {
	.init = kulink_state_init,
	.exit = kulink_state_exit,
	.id = &kulink_net_id,
	.size = sizeof(struct kulink_net),
};

/* Hooks come last and go first: they must never see a missing channel. */
static struct pernet_operations kulink_hook_ops = {
	.init = kulink_hook_register,
	.exit = kulink_hook_unregister,
};

static int __init kulink_init(void)
{
	int err;

	err = register_pernet_subsys(&kulink_state_ops);
	if (err)
		return err;
	err = kulink_netlink_init();
	if (err)
		goto err_state;
	err = register_pernet_subsys(&kulink_hook_ops);
	if (err)
		goto err_netlink;
	pr_info("loaded, generic netlink family %s\n", KULINK_GENL_NAME);
	return 0;

err_netlink:
	kulink_netlink_exit();
err_state:
	unregister_pernet_subsys(&kulink_state_ops);
	return err;
}

static void __exit kulink_exit(void)
{
	unregister_pernet_subsys(&kulink_hook_ops);
	kulink_netlink_exit();
	unregister_pernet_subsys(&kulink_state_ops);
	pr_info("unloaded\n");
}

module_init(kulink_init);
module_exit(kulink_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Kernel <-> user channel testbed: ICMP events over netlink and friends");
MODULE_VERSION("0.1.0");
