// SPDX-License-Identifier: GPL-2.0
/*
 * setsockopt/getsockopt on any IPv4 socket, registered with
 * nf_register_sockopt: user space sets a message, the kernel answers
 * "a message from kernel" (and what it was told) on get, plus a stats get.
 * The message belongs to the socket's network namespace, as the counters
 * do: its administrator (CAP_NET_ADMIN over it) sets and reads it, and
 * another namespace's administrator cannot touch it. Counters are anyone's.
 */
#include <linux/netfilter.h>
#include <linux/sockptr.h>
#include <linux/uaccess.h>
#include <net/sock.h>

#include "internal.h"

static int kulink_so_set(struct sock *sk, int optval, sockptr_t arg,
			 unsigned int len)
{
	struct kulink_net *kn = kulink_pernet(sock_net(sk));
	char msg[KULINK_SO_MSG_MAX];

	if (!kulink_net_admin(sock_net(sk)))
		return -EPERM;
	if (optval != KULINK_SO_SET_MSG || !len || len >= sizeof(msg))
		return -EINVAL;
	if (copy_from_sockptr(msg, arg, len))
		return -EFAULT;
	msg[len] = '\0';
	mutex_lock(&kn->so_lock);
	strscpy(kn->so_msg, msg, sizeof(kn->so_msg));
	mutex_unlock(&kn->so_lock);
	return 0;
}

static int kulink_so_get_msg(struct kulink_net *kn, void __user *user,
			     int *len)
{
	char reply[sizeof(KULINK_SO_REPLY) + sizeof(", you said: ") +
		   KULINK_SO_MSG_MAX];
	int n;

	mutex_lock(&kn->so_lock);
	if (kn->so_msg[0])
		n = scnprintf(reply, sizeof(reply), "%s, you said: %s",
			      KULINK_SO_REPLY, kn->so_msg);
	else
		n = scnprintf(reply, sizeof(reply), "%s", KULINK_SO_REPLY);
	mutex_unlock(&kn->so_lock);
	n++;	/* the NUL goes too */
	if (*len < n)
		return -EINVAL;
	if (copy_to_user(user, reply, n))
		return -EFAULT;
	*len = n;
	return 0;
}

static int kulink_so_get(struct sock *sk, int optval, void __user *user,
			 int *len)
{
	struct kulink_net *kn = kulink_pernet(sock_net(sk));
	struct kulink_stats_rec rec;

	switch (optval) {
	case KULINK_SO_GET_MSG:
		if (!kulink_net_admin(sock_net(sk)))
			return -EPERM;
		return kulink_so_get_msg(kn, user, len);
	case KULINK_SO_GET_STATS:
		if (*len != sizeof(rec))
			return -EINVAL;
		kulink_stats_fill(kn, &rec);
		return copy_to_user(user, &rec, sizeof(rec)) ? -EFAULT : 0;
	}
	return -ENOPROTOOPT;
}

static struct nf_sockopt_ops kulink_sockopt_ops = {
	.pf = PF_INET,
	.set_optmin = KULINK_SO_SET_MSG,
	.set_optmax = KULINK_SO_SET_MSG + 1,
	.set = kulink_so_set,
	.get_optmin = KULINK_SO_BASE,
	.get_optmax = KULINK_SO_MAX + 1,
	.get = kulink_so_get,
	.owner = THIS_MODULE,
};

int kulink_sockopt_init(void)
{
	return nf_register_sockopt(&kulink_sockopt_ops);
}

void kulink_sockopt_exit(void)
{
	nf_unregister_sockopt(&kulink_sockopt_ops);
}
