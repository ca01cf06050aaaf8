// SPDX-License-Identifier: GPL-2.0
/*
 * kulinkfs: `mount -t kulinkfs none /mnt/kulink` gives `log` (the most
 * recent events as text) and `stats`, readable with cat. Built on
 * fs_context + simple_fill_super; the mount holds and shows the network
 * namespace it was mounted in. `log` needs CAP_NET_ADMIN over that one.
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "compat.h"
#include "internal.h"

#define KULINKFS_MAGIC 0x6b6c6e6b	/* "klnk" */

struct kulinkfs_text {
	size_t len;
	char *buf;
};

/* Each open takes a snapshot; reads then page through it. */
static int kulinkfs_open(struct inode *inode, struct file *file,
			 char *(*render)(struct kulink_net *kn, size_t *len))
{
	struct kulinkfs_text *text = kzalloc(sizeof(*text), GFP_KERNEL);

	if (!text)
		return -ENOMEM;
	text->buf = render(kulink_pernet(inode->i_sb->s_fs_info), &text->len);
	if (!text->buf) {
		kfree(text);
		return -ENOMEM;
	}
	file->private_data = text;
	return 0;
}

static int kulinkfs_log_open(struct inode *inode, struct file *file)
{
	if (!kulink_net_admin(inode->i_sb->s_fs_info))
		return -EPERM;
	return kulinkfs_open(inode, file, kulink_log_render);
}

static int kulinkfs_stats_open(struct inode *inode, struct file *file)
{
	return kulinkfs_open(inode, file, kulink_stats_render);
}

static ssize_t kulinkfs_read(struct file *file, char __user *buf,
			     size_t count, loff_t *ppos)
{
	struct kulinkfs_text *text = file->private_data;

	return simple_read_from_buffer(buf, count, ppos, text->buf, text->len);
}

static int kulinkfs_release(struct inode *inode, struct file *file)
{
	struct kulinkfs_text *text = file->private_data;

	kfree(text->buf);
	kfree(text);
	return 0;
}

static const struct file_operations kulinkfs_log_fops = {
	.owner = THIS_MODULE,
	.open = kulinkfs_log_open,
	.read = kulinkfs_read,
	.release = kulinkfs_release,
	.llseek = default_llseek,
};

static const struct file_operations kulinkfs_stats_fops = {
	.owner = THIS_MODULE,
	.open = kulinkfs_stats_open,
	.read = kulinkfs_read,
	.release = kulinkfs_release,
	.llseek = default_llseek,
};

static int kulinkfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	/* Index 0 and 1 are "." and ".." for simple_fill_super. */
	static const struct tree_descr files[] = {
		[2] = { "log", &kulinkfs_log_fops, 0444 },
		[3] = { "stats", &kulinkfs_stats_fops, 0444 },
		{ "" },
	};
	int err = simple_fill_super(sb, KULINKFS_MAGIC, files);

	if (err)
		return err;
	sb->s_fs_info = get_net(fc->net_ns);
	return 0;
}

static int kulinkfs_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, kulinkfs_fill_super);
}

static const struct fs_context_operations kulinkfs_context_ops = {
	.get_tree = kulinkfs_get_tree,
};

static int kulinkfs_init_fs_context(struct fs_context *fc)
{
	fc->ops = &kulinkfs_context_ops;
	return 0;
}

static void kulinkfs_kill_sb(struct super_block *sb)
{
	struct net *net = sb->s_fs_info;

	kulink_kill_super(sb);
	if (net)
		put_net(net);
}

static struct file_system_type kulinkfs_type = {
	.owner = THIS_MODULE,
	.name = "kulinkfs",
	.init_fs_context = kulinkfs_init_fs_context,
	.kill_sb = kulinkfs_kill_sb,
};
MODULE_ALIAS_FS("kulinkfs");

int kulink_fs_init(void)
{
	return register_filesystem(&kulinkfs_type);
}

void kulink_fs_exit(void)
{
	unregister_filesystem(&kulinkfs_type);
}
