/* SPDX-License-Identifier: GPL-2.0 */
/* One open /dev/kulink: its read queue, ring and signal registrations. */
#ifndef _KULINK_CHARDEV_H
#define _KULINK_CHARDEV_H

#include <linux/fs.h>
#include <linux/kfifo.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>

#include "internal.h"

#define KULINK_FILE_QUEUE 512

struct kulink_ring {
	struct kulink_ring_header *hdr;	/* vmalloc_user: header page + data */
	struct kulink_event *data;
	u64 head;			/* records produced, kernel's copy */
	u32 capacity;
	size_t size;			/* bytes mapped */
	unsigned int maps;		/* vmas mapping it, under mmap_lock */
};

struct kulink_file {
	struct list_head node;		/* in kn->files, RCU */
	struct net *net;		/* the opener's, held while open */
	struct kulink_net *kn;
	u32 filter;			/* ICMP type mask for this reader */

	spinlock_t lock;		/* queue, signal registration */
	DECLARE_KFIFO(queue, struct kulink_event, KULINK_FILE_QUEUE);
	atomic64_t dropped;		/* records the full queue refused */
	wait_queue_head_t wait;

	struct fasync_struct *fasync;	/* SIGIO (signal.c) */
	struct pid *sig_pid;		/* real-time signal target (signal.c) */
	int sig_no;

	/* One reader at a time; held across copy_to_user(). */
	struct mutex read_lock;

	/*
	 * Set by mmap() and cleared when the last mapping goes, both under
	 * the spinlock too: while set, records go to the ring, not the queue.
	 * mmap() and the vma callbacks run under the mm's mmap_lock, so this
	 * mutex must never be held where user memory can fault (read_lock
	 * is): two locks, no cycle.
	 */
	struct kulink_ring *ring;
	struct mutex mmap_lock;
};

/* chardev.c */
void kulink_file_dropped(struct kulink_file *kf);

/* ring.c */
int kulink_ring_mmap(struct kulink_file *kf, struct vm_area_struct *vma);
/* Callers of these two hold kf->lock and saw kf->ring set. */
void kulink_ring_put(struct kulink_file *kf, const struct kulink_event *ev);
bool kulink_ring_readable(struct kulink_file *kf);
void kulink_ring_free(struct kulink_file *kf);

/* signal.c */
void kulink_signal_notify(struct kulink_file *kf, const struct kulink_event *ev);
int kulink_signal_fasync(int fd, struct file *file, int on);
int kulink_signal_register(struct kulink_file *kf, int sig);
void kulink_signal_release(struct kulink_file *kf);

#endif /* _KULINK_CHARDEV_H */
