// SPDX-License-Identifier: GPL-2.0
/* The most recent events per netns, read as text by procfs and kulinkfs. */
#include <linux/slab.h>

#include "internal.h"

#define KULINK_LINE_MAX 160

void kulink_log_add(struct kulink_net *kn, const struct kulink_event *ev)
{
	struct kulink_log *log = &kn->log;
	unsigned long flags;

	spin_lock_irqsave(&log->lock, flags);
	log->events[log->next] = *ev;
	log->next = (log->next + 1) % KULINK_LOG_SIZE;
	if (log->count < KULINK_LOG_SIZE)
		log->count++;
	spin_unlock_irqrestore(&log->lock, flags);
}

unsigned int kulink_log_copy(struct kulink_net *kn, struct kulink_event *out,
			     unsigned int max)
{
	struct kulink_log *log = &kn->log;
	unsigned int n, first, i;
	unsigned long flags;

	spin_lock_irqsave(&log->lock, flags);
	n = min(max, log->count);
	first = (log->next + KULINK_LOG_SIZE - n) % KULINK_LOG_SIZE;
	for (i = 0; i < n; i++)
		out[i] = log->events[(first + i) % KULINK_LOG_SIZE];
	spin_unlock_irqrestore(&log->lock, flags);
	return n;
}

char *kulink_log_render(struct kulink_net *kn, size_t *len)
{
	struct kulink_event *events;
	unsigned int i, n;
	size_t size;
	char *text;

	events = kmalloc_array(KULINK_LOG_SIZE, sizeof(*events), GFP_KERNEL);
	if (!events)
		return NULL;
	n = kulink_log_copy(kn, events, KULINK_LOG_SIZE);
	size = (size_t)n * KULINK_LINE_MAX + 1;
	text = kmalloc(size, GFP_KERNEL);
	if (text) {
		*len = 0;
		for (i = 0; i < n; i++)
			*len += kulink_event_text(&events[i], text + *len,
						  size - *len);
	}
	kfree(events);
	return text;
}
