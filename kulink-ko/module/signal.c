// SPDX-License-Identifier: GPL-2.0
/*
 * Signals from /dev/kulink: SIGIO through fasync (O_ASYNC + F_SETOWN), and
 * a real-time signal per event whose si_int carries the event's sequence
 * number (SI_QUEUE). The registration holds a struct pid, not a number:
 * once the process is gone no task matches it, so a reused pid number is
 * never signalled; closing the file drops it.
 */
#include <linux/fs.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>

#include "chardev.h"

/* Caller holds kf->lock (softirq or BH-disabled context). */
void kulink_signal_notify(struct kulink_file *kf, const struct kulink_event *ev)
{
	struct kernel_siginfo info;
	struct task_struct *task;
	int err = -ESRCH;

	if (READ_ONCE(kf->fasync)) {
		kill_fasync(&kf->fasync, SIGIO, POLL_IN);
		kulink_count(kf->kn, SIGIO_SENT);
	}
	if (!kf->sig_pid)
		return;

	clear_siginfo(&info);
	info.si_signo = kf->sig_no;
	info.si_code = SI_QUEUE;
	info.si_int = (int)ev->seq;
	rcu_read_lock();
	task = pid_task(kf->sig_pid, PIDTYPE_TGID);
	if (task)
		err = send_sig_info(kf->sig_no, &info, task);
	rcu_read_unlock();
	if (err)
		kulink_count(kf->kn, SIGRT_FAILED);
	else
		kulink_count(kf->kn, SIGRT_SENT);
}

int kulink_signal_fasync(int fd, struct file *file, int on)
{
	struct kulink_file *kf = file->private_data;

	return fasync_helper(fd, file, on, &kf->fasync);
}

int kulink_signal_register(struct kulink_file *kf, int sig)
{
	struct pid *pid = NULL, *old;

	if (sig && (sig < SIGRTMIN || sig > SIGRTMAX))
		return -EINVAL;
	if (sig)
		pid = get_pid(task_tgid(current));
	spin_lock_bh(&kf->lock);
	old = kf->sig_pid;
	kf->sig_pid = pid;
	kf->sig_no = sig;
	spin_unlock_bh(&kf->lock);
	put_pid(old);
	return 0;
}

void kulink_signal_release(struct kulink_file *kf)
{
	put_pid(kf->sig_pid);
	kf->sig_pid = NULL;
}
