/* SPDX-License-Identifier: GPL-2.0 */
/* Every kernel-version difference kulink bridges lives here. */
#ifndef _KULINK_COMPAT_H
#define _KULINK_COMPAT_H

#include <linux/hrtimer.h>
#include <linux/mm.h>
#include <linux/timer.h>
#include <linux/version.h>
#include <net/genetlink.h>

/*
 * Joining a multicast group needs CAP_NET_ADMIN over the namespace: the
 * flag is GENL_MCAST_CAP_NET_ADMIN since 6.7 (and in 6.1 and 6.6 stable);
 * 5.10 and 5.15 stable check GENL_UNS_ADMIN_PERM in the group's flags.
 */
#ifdef GENL_MCAST_CAP_NET_ADMIN
#define KULINK_MCGRP_FLAGS GENL_MCAST_CAP_NET_ADMIN
#else
#define KULINK_MCGRP_FLAGS GENL_UNS_ADMIN_PERM
#endif

/* 6.2 renamed del_timer_sync; 6.16 renamed from_timer. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#define timer_delete_sync del_timer_sync
#endif
#ifndef timer_container_of
#define timer_container_of from_timer
#endif

/* 6.13 folded hrtimer_init() and setting ->function into hrtimer_setup(). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
static inline void
kulink_hrtimer_setup(struct hrtimer *timer,
		     enum hrtimer_restart (*function)(struct hrtimer *),
		     clockid_t clock, enum hrtimer_mode mode)
{
	hrtimer_init(timer, clock, mode);
	timer->function = function;
}
#else
#define kulink_hrtimer_setup hrtimer_setup
#endif

/* sysctl tables lose their empty sentinel (6.6 accepts both, 6.12 not). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
#define KULINK_CTL_SENTINEL
#else
#define KULINK_CTL_SENTINEL {}
#endif

/* 6.12 dropped no_llseek: a NULL llseek means the same. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
#define KULINK_NO_LLSEEK .llseek = no_llseek,
#else
#define KULINK_NO_LLSEEK
#endif

/* vm_flags became read-only behind helpers in 6.3. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
static inline void kulink_vm_flags_mod(struct vm_area_struct *vma,
				       unsigned long set, unsigned long clear)
{
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
}
#else
#define kulink_vm_flags_mod vm_flags_mod
#endif

/*
 * simple_fill_super() trees were torn down with kill_litter_super() until
 * it was removed in the 7.0 cycle; after that kill_anon_super() does it.
 * Kbuild probes the tree for the function.
 */
#ifdef KULINK_HAVE_KILL_LITTER_SUPER
#define kulink_kill_super kill_litter_super
#else
#define kulink_kill_super kill_anon_super
#endif

#endif /* _KULINK_COMPAT_H */
