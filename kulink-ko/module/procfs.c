// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/kulink: `stats` (the GET_STATS counters), `events` (the most recent
 * events as text) and `control` (write "reset"). Each open file holds the
 * network namespace of the process that opened it and shows that one,
 * whoever reads it and wherever the namespace's processes went. `events`
 * and `control` need CAP_NET_ADMIN over that namespace.
 */
#include <linux/nsproxy.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "internal.h"

static struct proc_dir_entry *kulink_proc_dir;

/* The opener's namespace, pinned; ERR_PTR(-EPERM) for a non-admin. */
static struct net *kulink_proc_net(bool admin_only)
{
	struct net *net = current->nsproxy->net_ns;

	if (admin_only && !kulink_net_admin(net))
		return ERR_PTR(-EPERM);
	return get_net(net);
}

/* Shows a rendered text file; the renderers allocate, we free. */
static int kulink_text_show(struct seq_file *m,
			    char *(*render)(struct kulink_net *kn, size_t *len))
{
	size_t len;
	char *text = render(kulink_pernet(m->private), &len);

	if (!text)
		return -ENOMEM;
	seq_write(m, text, len);
	kfree(text);
	return 0;
}

static int kulink_stats_show(struct seq_file *m, void *v)
{
	return kulink_text_show(m, kulink_stats_render);
}

static int kulink_events_show(struct seq_file *m, void *v)
{
	return kulink_text_show(m, kulink_log_render);
}

static int kulink_text_open(struct file *file,
			    int (*show)(struct seq_file *, void *),
			    size_t size, bool admin_only)
{
	struct net *net = kulink_proc_net(admin_only);
	int err;

	if (IS_ERR(net))
		return PTR_ERR(net);
	err = single_open_size(file, show, net, size);
	if (err)
		put_net(net);
	return err;
}

static int kulink_stats_open(struct inode *inode, struct file *file)
{
	return kulink_text_open(file, kulink_stats_show, PAGE_SIZE, false);
}

static int kulink_events_open(struct inode *inode, struct file *file)
{
	/* Room for every line at once: seq_file retries with more otherwise. */
	return kulink_text_open(file, kulink_events_show,
				KULINK_LOG_SIZE * 160, true);
}

static int kulink_text_release(struct inode *inode, struct file *file)
{
	struct net *net = ((struct seq_file *)file->private_data)->private;
	int err = single_release(inode, file);

	put_net(net);
	return err;
}

static int kulink_control_open(struct inode *inode, struct file *file)
{
	struct net *net = kulink_proc_net(true);

	if (IS_ERR(net))
		return PTR_ERR(net);
	file->private_data = net;
	return 0;
}

static int kulink_control_release(struct inode *inode, struct file *file)
{
	put_net(file->private_data);
	return 0;
}

static ssize_t kulink_control_write(struct file *file, const char __user *ubuf,
				    size_t count, loff_t *ppos)
{
	char cmd[16];

	if (count == 0 || count >= sizeof(cmd))
		return -EINVAL;
	if (copy_from_user(cmd, ubuf, count))
		return -EFAULT;
	cmd[count] = '\0';
	if (strcmp(strim(cmd), "reset"))
		return -EINVAL;
	kulink_stats_reset(kulink_pernet(file->private_data));
	return count;
}

static const struct proc_ops kulink_stats_ops = {
	.proc_open = kulink_stats_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = kulink_text_release,
};

static const struct proc_ops kulink_events_ops = {
	.proc_open = kulink_events_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = kulink_text_release,
};

static const struct proc_ops kulink_control_ops = {
	.proc_open = kulink_control_open,
	.proc_write = kulink_control_write,
	.proc_release = kulink_control_release,
};

int kulink_procfs_init(void)
{
	kulink_proc_dir = proc_mkdir("kulink", NULL);
	if (!kulink_proc_dir)
		return -ENOMEM;
	if (!proc_create("stats", 0444, kulink_proc_dir, &kulink_stats_ops) ||
	    !proc_create("events", 0444, kulink_proc_dir, &kulink_events_ops) ||
	    !proc_create("control", 0200, kulink_proc_dir,
			 &kulink_control_ops)) {
		proc_remove(kulink_proc_dir);
		return -ENOMEM;
	}
	return 0;
}

void kulink_procfs_exit(void)
{
	proc_remove(kulink_proc_dir);
}
