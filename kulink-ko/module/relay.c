// SPDX-License-Identifier: GPL-2.0
/*
 * The "interrupt hands off to a kernel thread" model: the hook only queues
 * the event under a spinlock; a kthread per netns sends it to the `relay`
 * multicast group from process context. Its latency, set against the
 * hook's direct multicast, is the price of the hand-off.
 */
#include <linux/kthread.h>
#include <linux/sched.h>

#include "internal.h"

#define KULINK_RELAY_QUEUE 1024

static int kulink_relay_thread(void *data)
{
	struct kulink_net *kn = data;
	struct kulink_event ev;
	bool got;
	int err;

	while (!kthread_should_stop()) {
		wait_event_interruptible(kn->relay_wait,
					 !kfifo_is_empty(&kn->relay_queue) ||
					 kthread_should_stop());
		for (;;) {
			spin_lock_bh(&kn->relay_lock);
			got = kfifo_get(&kn->relay_queue, &ev);
			spin_unlock_bh(&kn->relay_lock);
			if (!got)
				break;
			err = kulink_netlink_relay(kn, &ev);
			if (!err)
				kulink_count(kn, RELAY_SENT);
			else if (err != -ESRCH)
				kulink_count(kn, RELAY_DROPPED);
		}
	}
	return 0;
}

/* Softirq context: queue and wake, nothing more. */
void kulink_relay_queue(struct kulink_net *kn, const struct kulink_event *ev)
{
	bool queued;

	if (!kulink_netlink_relay_wanted(kn))
		return;
	spin_lock(&kn->relay_lock);
	queued = kfifo_put(&kn->relay_queue, *ev);
	spin_unlock(&kn->relay_lock);
	if (!queued)
		kulink_count(kn, RELAY_DROPPED);
	wake_up(&kn->relay_wait);
}

int kulink_relay_net_init(struct kulink_net *kn)
{
	int err;

	spin_lock_init(&kn->relay_lock);
	init_waitqueue_head(&kn->relay_wait);
	err = kfifo_alloc(&kn->relay_queue, KULINK_RELAY_QUEUE, GFP_KERNEL);
	if (err)
		return err;
	kn->relay_thread = kthread_run(kulink_relay_thread, kn, "kulink-relay");
	if (IS_ERR(kn->relay_thread)) {
		kfifo_free(&kn->relay_queue);
		return PTR_ERR(kn->relay_thread);
	}
	return 0;
}

void kulink_relay_net_exit(struct kulink_net *kn)
{
	kthread_stop(kn->relay_thread);
	kfifo_free(&kn->relay_queue);
}
