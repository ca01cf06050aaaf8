// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel event generator, for benchmarks: GENERATE makes the module
 * publish N events to the channels it names, from a softirq hrtimer, at a
 * given rate or as fast as the timer's budget allows. What a channel does
 * with them is what it does with events from the hook.
 */
#include <linux/hrtimer.h>
#include <linux/icmp.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/timekeeping.h>

#include "compat.h"
#include "internal.h"

/* Longest a timer callback runs before it gives the CPU back. */
#define KULINK_GEN_BUDGET_NS	(500 * NSEC_PER_USEC)
/* Pause between callbacks at full speed: user space gets its turn. */
#define KULINK_GEN_GAP_NS	(20 * NSEC_PER_USEC)
/* Events between two looks at the clock. */
#define KULINK_GEN_CLOCK_EVERY	16

static void kulink_gen_one(struct kulink_net *kn, struct kulink_gen *gen)
{
	struct kulink_event ev = {
		.tstamp_ns = ktime_get_ns(),
		.type = ICMP_ECHO,
		.echo_id = gen->run,
		.echo_seq = (u16)gen->emitted,
		.flags = KULINK_EVF_GENERATED,
	};

	kulink_count(kn, GENERATED);
	kulink_event_publish_to(kn, &ev, gen->channels);
	gen->emitted++;
}

/* How many events are due by @now: all that are left at full speed. */
static u32 kulink_gen_due(const struct kulink_gen *gen, u64 now)
{
	u64 due;

	if (!gen->rate)
		return gen->count - gen->emitted;
	due = div_u64((now - gen->start_ns) * gen->rate, NSEC_PER_SEC) + 1;
	due = min_t(u64, due, gen->count);
	return due > gen->emitted ? due - gen->emitted : 0;
}

/* Softirq context (HRTIMER_MODE_REL_SOFT). */
static enum hrtimer_restart kulink_gen_tick(struct hrtimer *timer)
{
	struct kulink_gen *gen = container_of(timer, struct kulink_gen, timer);
	struct kulink_net *kn = container_of(gen, struct kulink_net, gen);
	u64 begin = ktime_get_ns(), gap;
	u32 due = kulink_gen_due(gen, begin), i;

	rcu_read_lock();
	for (i = 0; i < due; i++) {
		if (i && !(i % KULINK_GEN_CLOCK_EVERY) &&
		    ktime_get_ns() - begin > KULINK_GEN_BUDGET_NS)
			break;
		kulink_gen_one(kn, gen);
	}
	rcu_read_unlock();

	if (gen->emitted >= gen->count) {
		WRITE_ONCE(gen->busy, false);
		return HRTIMER_NORESTART;
	}
	gap = gen->rate ? max_t(u64, KULINK_GEN_GAP_NS,
				div_u64(NSEC_PER_SEC, gen->rate)) :
			  KULINK_GEN_GAP_NS;
	hrtimer_forward_now(timer, ns_to_ktime(gap));
	return HRTIMER_RESTART;
}

int kulink_gen_start(struct kulink_net *kn, u32 count, u32 rate, u32 channels,
		     struct netlink_ext_ack *extack)
{
	struct kulink_gen *gen = &kn->gen;

	if (!count || count > KULINK_GEN_COUNT_MAX) {
		NL_SET_ERR_MSG(extack, "count must be 1..KULINK_GEN_COUNT_MAX");
		return -EINVAL;
	}
	if (!channels || (channels & ~KULINK_CHAN_ALL)) {
		NL_SET_ERR_MSG(extack, "channels must be a non-empty set of KULINK_CHAN_*");
		return -EINVAL;
	}
	if (rate > KULINK_GEN_RATE_MAX) {
		NL_SET_ERR_MSG(extack, "rate must be at most KULINK_GEN_RATE_MAX");
		return -EINVAL;
	}
	/* Requests run in parallel (parallel_ops): one run at a time. */
	mutex_lock(&kn->gen_lock);
	if (kn->gen_stopped) {
		mutex_unlock(&kn->gen_lock);
		return -ESHUTDOWN;
	}
	if (READ_ONCE(gen->busy)) {
		mutex_unlock(&kn->gen_lock);
		NL_SET_ERR_MSG(extack, "a generator run is under way");
		return -EBUSY;
	}
	/* A finished run's timer may still be returning from its callback. */
	hrtimer_cancel(&gen->timer);
	gen->count = count;
	gen->rate = rate;
	gen->channels = channels;
	gen->emitted = 0;
	gen->run++;
	gen->start_ns = ktime_get_ns();
	WRITE_ONCE(gen->busy, true);
	hrtimer_start(&gen->timer, 0, HRTIMER_MODE_REL_SOFT);
	mutex_unlock(&kn->gen_lock);
	return 0;
}

void kulink_gen_net_init(struct kulink_net *kn)
{
	mutex_init(&kn->gen_lock);
	kulink_hrtimer_setup(&kn->gen.timer, kulink_gen_tick, CLOCK_MONOTONIC,
			     HRTIMER_MODE_REL_SOFT);
}

/*
 * Before any channel goes: a run still under way ends here, short of its
 * count, and no new one starts.
 */
void kulink_gen_net_stop(struct kulink_net *kn)
{
	mutex_lock(&kn->gen_lock);
	kn->gen_stopped = true;
	mutex_unlock(&kn->gen_lock);
	hrtimer_cancel(&kn->gen.timer);
}
