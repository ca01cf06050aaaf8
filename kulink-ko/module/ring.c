// SPDX-License-Identifier: GPL-2.0
/*
 * The mmap ring of /dev/kulink: a header page, then data pages of records.
 * One producer (the delivery path, serialised by the file's lock) and one
 * consumer (the process that mapped it). The producer publishes records
 * with a release store of head and reads tail with acquire; the consumer
 * does the mirror image, so a record is complete before it is visible.
 *
 * The ring lives as long as a mapping of it: vma open/close count them,
 * and the last close hands unread records back to the file's queue, so
 * the file keeps one ordered stream across mmap and munmap.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "chardev.h"
#include "compat.h"

static void kulink_ring_vm_open(struct vm_area_struct *vma)
{
	struct kulink_file *kf = vma->vm_private_data;

	/* A split or a move of the mapping: one more vma to close. */
	mutex_lock(&kf->mmap_lock);
	kf->ring->maps++;
	mutex_unlock(&kf->mmap_lock);
}

/* Records the consumer has not taken yet, back to the queue, in order. */
static void kulink_ring_to_queue(struct kulink_file *kf,
				 struct kulink_ring *ring)
{
	/* The shared page is user-writable: trust no tail out of range. */
	u64 tail = smp_load_acquire(&ring->hdr->tail);

	if (ring->head - tail > ring->capacity)
		return;
	for (; tail != ring->head; tail++) {
		if (!kfifo_put(&kf->queue, ring->data[tail % ring->capacity]))
			kulink_file_dropped(kf);
	}
}

static void kulink_ring_vm_close(struct vm_area_struct *vma)
{
	struct kulink_file *kf = vma->vm_private_data;
	struct kulink_ring *ring;

	mutex_lock(&kf->mmap_lock);
	ring = kf->ring;
	if (--ring->maps) {
		mutex_unlock(&kf->mmap_lock);
		return;
	}
	spin_lock_bh(&kf->lock);
	kulink_ring_to_queue(kf, ring);
	WRITE_ONCE(kf->ring, NULL);
	spin_unlock_bh(&kf->lock);
	mutex_unlock(&kf->mmap_lock);
	wake_up_interruptible(&kf->wait);
	vfree(ring->hdr);
	kfree(ring);
}

static const struct vm_operations_struct kulink_ring_vm_ops = {
	.open = kulink_ring_vm_open,
	.close = kulink_ring_vm_close,
};

int kulink_ring_mmap(struct kulink_file *kf, struct vm_area_struct *vma)
{
	int pages = READ_ONCE(kulink_config.ring_pages);
	size_t size = (size_t)(pages + 1) * PAGE_SIZE;
	struct kulink_ring *ring;
	int err = -EBUSY;

	if (vma->vm_pgoff || vma->vm_end - vma->vm_start != size)
		return -EINVAL;
	/* A private copy would stop seeing records at its first write. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;

	mutex_lock(&kf->mmap_lock);
	if (kf->ring)
		goto out;	/* one ring per open file */
	err = -ENOMEM;
	ring = kzalloc(sizeof(*ring), GFP_KERNEL);
	if (!ring)
		goto out;
	ring->hdr = vmalloc_user(size);
	if (!ring->hdr) {
		kfree(ring);
		goto out;
	}
	ring->size = size;
	ring->data = (void *)ring->hdr + PAGE_SIZE;
	ring->capacity = pages * PAGE_SIZE / sizeof(struct kulink_event);
	ring->hdr->version = KULINK_RING_VERSION;
	ring->hdr->record_size = sizeof(struct kulink_event);
	ring->hdr->capacity = ring->capacity;
	ring->hdr->data_offset = PAGE_SIZE;

	err = remap_vmalloc_range(vma, ring->hdr, 0);
	if (err) {
		vfree(ring->hdr);
		kfree(ring);
		goto out;
	}
	/* Never executable, not even after mprotect(); never inherited. */
	kulink_vm_flags_mod(vma, VM_DONTCOPY, VM_MAYEXEC);
	vma->vm_ops = &kulink_ring_vm_ops;
	vma->vm_private_data = kf;
	ring->maps = 1;
	/* From here on delivery fills the ring (it reads kf->ring locked). */
	spin_lock_bh(&kf->lock);
	WRITE_ONCE(kf->ring, ring);
	spin_unlock_bh(&kf->lock);
	/* A reader blocked on the queue must learn that the ring took over. */
	wake_up_interruptible(&kf->wait);
out:
	mutex_unlock(&kf->mmap_lock);
	return err;
}

void kulink_ring_put(struct kulink_file *kf, const struct kulink_event *ev)
{
	struct kulink_ring *ring = kf->ring;
	struct kulink_ring_header *hdr = ring->hdr;
	u64 head = ring->head;	/* our copy: the shared page is user-writable */
	/* Pairs with the consumer's release: its reads of the slot are done. */
	u64 tail = smp_load_acquire(&hdr->tail);

	/* A tail ahead of head, or too far behind, also means full. */
	if (head - tail >= ring->capacity) {
		WRITE_ONCE(hdr->overflow, hdr->overflow + 1);
		kulink_count(kf->kn, RING_OVERFLOW);
		return;
	}
	ring->data[head % ring->capacity] = *ev;
	ring->head = head + 1;
	/* The record is complete before the consumer can see the new head. */
	smp_store_release(&hdr->head, ring->head);
	kulink_count(kf->kn, RING_WRITTEN);
}

bool kulink_ring_readable(struct kulink_file *kf)
{
	struct kulink_ring *ring = kf->ring;

	/* Pairs with the consumer's release of tail. */
	return ring->head != smp_load_acquire(&ring->hdr->tail);
}

/*
 * At release, for a ring no vma close freed: mmap_region() failing after
 * ->mmap succeeded does not call ->close on every kernel.
 */
void kulink_ring_free(struct kulink_file *kf)
{
	if (!kf->ring)
		return;
	vfree(kf->ring->hdr);
	kfree(kf->ring);
	kf->ring = NULL;
}
