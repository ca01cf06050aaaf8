// SPDX-License-Identifier: GPL-2.0
/* /sys/kernel/kulink: version and per-channel counters (initial netns). */
#include <linux/kobject.h>
#include <linux/sysfs.h>

#include "internal.h"

static struct kobject *kulink_kobj;

static ssize_t version_show(struct kobject *kobj, struct kobj_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%s\n", KULINK_VERSION);
}

#define KULINK_COUNTER_ATTR(file, stat)					\
static ssize_t file##_show(struct kobject *kobj,			\
			   struct kobj_attribute *attr, char *buf)	\
{									\
	return sysfs_emit(buf, "%llu\n",				\
			  kulink_stat_value(kulink_pernet(&init_net),	\
					    KULINK_STAT_##stat));	\
}									\
static struct kobj_attribute file##_attr = __ATTR_RO(file)

static struct kobj_attribute version_attr = __ATTR_RO(version);
KULINK_COUNTER_ATTR(events, EVENTS_BUILT);
KULINK_COUNTER_ATTR(netlink_multicast, MCAST_SENT);
KULINK_COUNTER_ATTR(netlink_unicast, UNICAST_SENT);
KULINK_COUNTER_ATTR(chardev, CHARDEV_QUEUED);
KULINK_COUNTER_ATTR(mmap_ring, RING_WRITTEN);
KULINK_COUNTER_ATTR(signal_sigio, SIGIO_SENT);
KULINK_COUNTER_ATTR(signal_rt, SIGRT_SENT);
KULINK_COUNTER_ATTR(usermode_helper, UMH_RUN);
KULINK_COUNTER_ATTR(kthread_relay, RELAY_SENT);

static struct attribute *kulink_attrs[] = {
	&version_attr.attr,
	&events_attr.attr,
	&netlink_multicast_attr.attr,
	&netlink_unicast_attr.attr,
	&chardev_attr.attr,
	&mmap_ring_attr.attr,
	&signal_sigio_attr.attr,
	&signal_rt_attr.attr,
	&usermode_helper_attr.attr,
	&kthread_relay_attr.attr,
	NULL,
};

static const struct attribute_group kulink_attr_group = {
	.attrs = kulink_attrs,
};

int kulink_sysfs_init(void)
{
	int err;

	kulink_kobj = kobject_create_and_add("kulink", kernel_kobj);
	if (!kulink_kobj)
		return -ENOMEM;
	err = sysfs_create_group(kulink_kobj, &kulink_attr_group);
	if (err)
		kobject_put(kulink_kobj);
	return err;
}

void kulink_sysfs_exit(void)
{
	kobject_put(kulink_kobj);
}
