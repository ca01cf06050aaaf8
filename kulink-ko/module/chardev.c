// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/kulink, a misc device: read() returns binary event records (blocking,
 * O_NONBLOCK, poll), write() injects a validated synthetic event, ioctl()
 * reads counters and sets this reader's filter. Each open file holds the
 * network namespace it was opened in and gets every event of it in a
 * queue of its own. Opening needs CAP_NET_ADMIN over that namespace.
 */
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/nsproxy.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#include "chardev.h"
#include "compat.h"

/* Records one read() hands over at most. */
#define KULINK_READ_BATCH 8

static bool kulink_wants(const struct kulink_file *kf, u8 type)
{
	return type < KULINK_ICMP_TYPES && (READ_ONCE(kf->filter) & BIT(type));
}

/* A record the file's full queue refused: counted for it and in total. */
void kulink_file_dropped(struct kulink_file *kf)
{
	atomic64_inc(&kf->dropped);
	kulink_count(kf->kn, CHARDEV_DROPPED);
}

/* Softirq (or BH-disabled) context, under RCU. */
void kulink_chardev_deliver(struct kulink_net *kn,
			    const struct kulink_event *ev)
{
	struct kulink_file *kf;

	list_for_each_entry_rcu(kf, &kn->files, node) {
		if (!kulink_wants(kf, ev->type))
			continue;
		spin_lock(&kf->lock);
		if (kf->ring)
			kulink_ring_put(kf, ev);
		else if (kfifo_put(&kf->queue, *ev))
			kulink_count(kn, CHARDEV_QUEUED);
		else
			kulink_file_dropped(kf);
		kulink_signal_notify(kf, ev);
		spin_unlock(&kf->lock);
		wake_up_interruptible(&kf->wait);
	}
}

static int kulink_open(struct inode *inode, struct file *file)
{
	struct net *net = current->nsproxy->net_ns;
	struct kulink_file *kf;

	if (!kulink_net_admin(net))
		return -EPERM;
	kf = kzalloc(sizeof(*kf), GFP_KERNEL);
	if (!kf)
		return -ENOMEM;
	/* The file may outlive every process of its namespace: hold it. */
	kf->net = get_net(net);
	kf->kn = kulink_pernet(net);
	kf->filter = ~0U;
	spin_lock_init(&kf->lock);
	INIT_KFIFO(kf->queue);
	init_waitqueue_head(&kf->wait);
	mutex_init(&kf->read_lock);
	mutex_init(&kf->mmap_lock);
	file->private_data = kf;

	spin_lock_bh(&kf->kn->files_lock);
	list_add_tail_rcu(&kf->node, &kf->kn->files);
	spin_unlock_bh(&kf->kn->files_lock);
	return stream_open(inode, file);
}

static int kulink_release(struct inode *inode, struct file *file)
{
	struct kulink_file *kf = file->private_data;

	spin_lock_bh(&kf->kn->files_lock);
	list_del_rcu(&kf->node);
	spin_unlock_bh(&kf->kn->files_lock);
	/* No hook may still be delivering to this file. */
	synchronize_rcu();
	kulink_signal_release(kf);
	kulink_ring_free(kf);
	put_net(kf->net);
	kfree(kf);
	return 0;
}

static ssize_t kulink_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	struct kulink_file *kf = file->private_data;
	struct kulink_event batch[KULINK_READ_BATCH];
	unsigned int n;
	int err;

	if (count < sizeof(struct kulink_event))
		return -EINVAL;
	n = min_t(size_t, count / sizeof(struct kulink_event),
		  KULINK_READ_BATCH);

	/* One reader at a time, so a failed copy can leave the queue as is. */
	if (mutex_lock_interruptible(&kf->read_lock))
		return -ERESTARTSYS;
	for (;;) {
		unsigned int got;
		bool mapped;

		spin_lock_bh(&kf->lock);
		got = kfifo_out_peek(&kf->queue, batch, n);
		mapped = !!kf->ring;
		spin_unlock_bh(&kf->lock);
		if (got) {
			n = got;
			break;
		}
		/* What was queued is read; new records are in the ring. */
		if (mapped) {
			err = -EBUSY;
			goto out;
		}
		if (file->f_flags & O_NONBLOCK) {
			err = -EAGAIN;
			goto out;
		}
		mutex_unlock(&kf->read_lock);
		if (wait_event_interruptible(kf->wait,
					     !kfifo_is_empty(&kf->queue) ||
					     READ_ONCE(kf->ring)))
			return -ERESTARTSYS;
		if (mutex_lock_interruptible(&kf->read_lock))
			return -ERESTARTSYS;
	}
	if (copy_to_user(buf, batch, n * sizeof(struct kulink_event))) {
		err = -EFAULT;
		goto out;
	}
	err = n * sizeof(struct kulink_event);
	spin_lock_bh(&kf->lock);
	while (n--)
		kfifo_skip(&kf->queue);
	spin_unlock_bh(&kf->lock);
out:
	mutex_unlock(&kf->read_lock);
	return err;
}

static bool kulink_event_valid(const struct kulink_event *ev)
{
	return !ev->seq && !ev->tstamp_ns && ev->type < KULINK_ICMP_TYPES &&
	       !(ev->flags & ~KULINK_EVF_SYNTHETIC) &&
	       !memchr_inv(ev->reserved, 0, sizeof(ev->reserved));
}

/*
 * A synthetic event: numbered and timestamped here, then subject to the
 * same rule as the wire's before any channel sees it.
 */
static ssize_t kulink_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	struct kulink_file *kf = file->private_data;
	struct kulink_event ev;

	if (count != sizeof(ev))
		return -EINVAL;
	if (copy_from_user(&ev, buf, sizeof(ev)))
		return -EFAULT;
	if (!kulink_event_valid(&ev))
		return -EINVAL;
	ev.flags = KULINK_EVF_SYNTHETIC;
	ev.tstamp_ns = ktime_get_ns();

	/* The channels expect the hook's context: BHs off, RCU held. */
	local_bh_disable();
	rcu_read_lock();
	kulink_count(kf->kn, SYNTHETIC);
	kulink_event_publish(kf->kn, &ev);
	rcu_read_unlock();
	local_bh_enable();
	return count;
}

static __poll_t kulink_poll(struct file *file, poll_table *wait)
{
	struct kulink_file *kf = file->private_data;
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;
	bool readable;

	poll_wait(file, &kf->wait, wait);
	/* The lock keeps the ring from going away under us. */
	spin_lock_bh(&kf->lock);
	readable = !kfifo_is_empty(&kf->queue) ||
		   (kf->ring && kulink_ring_readable(kf));
	spin_unlock_bh(&kf->lock);
	if (readable)
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

static long kulink_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct kulink_file *kf = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct kulink_stats_rec rec;
	u32 filter;
	s32 sig;

	switch (cmd) {
	case KULINK_IOC_GET_STATS:
		kulink_stats_fill(kf->kn, &rec);
		return copy_to_user(uarg, &rec, sizeof(rec)) ? -EFAULT : 0;
	case KULINK_IOC_SET_FILTER:
		if (get_user(filter, (u32 __user *)uarg))
			return -EFAULT;
		WRITE_ONCE(kf->filter, filter);
		return 0;
	case KULINK_IOC_GET_FILTER:
		return put_user(READ_ONCE(kf->filter), (u32 __user *)uarg);
	case KULINK_IOC_RESET:
		kulink_stats_reset(kf->kn);
		return 0;
	case KULINK_IOC_SET_SIGNAL:
		if (get_user(sig, (s32 __user *)uarg))
			return -EFAULT;
		return kulink_signal_register(kf, sig);
	case KULINK_IOC_GET_DROPPED:
		return put_user((u64)atomic64_read(&kf->dropped),
				(u64 __user *)uarg);
	}
	return -ENOTTY;
}

static int kulink_mmap(struct file *file, struct vm_area_struct *vma)
{
	return kulink_ring_mmap(file->private_data, vma);
}

static const struct file_operations kulink_fops = {
	.owner = THIS_MODULE,
	.open = kulink_open,
	.release = kulink_release,
	.read = kulink_read,
	.write = kulink_write,
	.poll = kulink_poll,
	.unlocked_ioctl = kulink_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = kulink_mmap,
	.fasync = kulink_signal_fasync,
	KULINK_NO_LLSEEK
};

static struct miscdevice kulink_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kulink",
	.fops = &kulink_fops,
	.mode = 0600,
};

int kulink_chardev_init(void)
{
	return misc_register(&kulink_misc);
}

void kulink_chardev_exit(void)
{
	misc_deregister(&kulink_misc);
}
