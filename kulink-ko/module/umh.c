// SPDX-License-Identifier: GPL-2.0
/*
 * The usermode helper: for each event the kernel runs umh_path (by default
 * KULINK_UMH_PATH) with the event's text fields as arguments. Never from
 * the hook: the hook only queues, and a work item calls
 * call_usermodehelper() in process context.
 * The sysctl umh_rate caps runs per second. The helper runs in the initial
 * namespaces, so only events of the initial netns start it.
 */
#include <linux/jiffies.h>
#include <linux/kfifo.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/umh.h>
#include <linux/workqueue.h>

#include "internal.h"

#define KULINK_UMH_QUEUE 256

/* Where the helper is; a guest whose root is read-only puts it elsewhere. */
static char *umh_path = KULINK_UMH_PATH;
module_param(umh_path, charp, 0444);
MODULE_PARM_DESC(umh_path, "usermode helper to run for each event");

static DEFINE_SPINLOCK(kulink_umh_lock);
static DEFINE_KFIFO(kulink_umh_fifo, struct kulink_event, KULINK_UMH_QUEUE);
static unsigned long kulink_umh_window;	/* jiffies the window opened */
static int kulink_umh_in_window;	/* runs queued in this window */

static void kulink_umh_run(const struct kulink_event *ev, struct kulink_net *kn)
{
	char **argv = NULL, **envp = NULL;
	char line[200];
	int len, err = -ENOMEM;

	/* argv: the helper's path, then one "key=value" per event field. */
	len = scnprintf(line, sizeof(line), "%s ", umh_path);
	kulink_event_text(ev, line + len, sizeof(line) - len);
	argv = argv_split(GFP_KERNEL, line, NULL);
	envp = argv_split(GFP_KERNEL, "HOME=/ PATH=/sbin:/bin", NULL);
	if (argv && envp)
		err = call_usermodehelper(argv[0], argv, envp, UMH_WAIT_EXEC);
	if (argv)
		argv_free(argv);
	if (envp)
		argv_free(envp);

	if (err)
		kulink_count(kn, UMH_FAILED);
	else
		kulink_count(kn, UMH_RUN);
}

static void kulink_umh_work_fn(struct work_struct *work)
{
	struct kulink_net *kn = kulink_pernet(&init_net);
	struct kulink_event ev;

	for (;;) {
		bool got;

		spin_lock_bh(&kulink_umh_lock);
		got = kfifo_get(&kulink_umh_fifo, &ev);
		spin_unlock_bh(&kulink_umh_lock);
		if (!got)
			return;
		kulink_umh_run(&ev, kn);
	}
}

static DECLARE_WORK(kulink_umh_work, kulink_umh_work_fn);

/* Softirq context: count against the rate, queue, schedule the work. */
void kulink_umh_queue(struct kulink_net *kn, const struct kulink_event *ev)
{
	int rate = READ_ONCE(kulink_config.umh_rate);
	bool queued = false;

	if (kn->net != &init_net || !rate)
		return;
	spin_lock(&kulink_umh_lock);
	if (time_after(jiffies, kulink_umh_window + HZ)) {
		kulink_umh_window = jiffies;
		kulink_umh_in_window = 0;
	}
	if (kulink_umh_in_window < rate) {
		queued = kfifo_put(&kulink_umh_fifo, *ev);
		kulink_umh_in_window += queued;
	}
	spin_unlock(&kulink_umh_lock);
	if (!queued) {
		kulink_count(kn, UMH_LIMITED);
		return;
	}
	schedule_work(&kulink_umh_work);
}

int kulink_umh_init(void)
{
	kulink_umh_window = jiffies;
	return 0;
}

void kulink_umh_exit(void)
{
	cancel_work_sync(&kulink_umh_work);
}
