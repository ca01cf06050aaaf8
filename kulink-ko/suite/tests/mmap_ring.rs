//! The mmap ring: read in place by the agent, every record equal to the
//! generic netlink copy of the same event.

mod common;

use kulink_ko_contract::probe::{Probe, ProbeReport, StepOutcome, MMAP_ECHO_ID};
use kulink_ko_contract::Channel;
use kulink_ko_contract::{uapi, Event};
use kulink_ko_suite::event_verdict;
use kulink_ko_suite::guest::KulinkGuest;
use kulink_ko_suite::inject::{self, listener, multicast};
use kulink_ko_suite::plan::Plan;

fn ring_records_equal_the_netlink_copy(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let plan = Plan::standard(vm.wire(), 24);
    let ring = listener(Channel::MmapRing);
    let events = inject::inject(&mut vm, &plan, &[ring.clone(), multicast()], false).unwrap().events;
    common::assert_delivered(&vm, &plan, &events, &ring);
    let from_ring: Vec<_> = event_verdict::of_listener(&events, &ring).iter().map(|r| r.event).collect();
    let from_netlink: Vec<_> = event_verdict::of_listener(&events, &multicast()).iter().map(|r| r.event).collect();
    assert_eq!(from_ring, from_netlink, "same seq, timestamp and fields");
    let stats = vm.stats().unwrap();
    assert_eq!((stats.ring_written, stats.ring_overflow), (plan.expected().len() as u64, 0));
    common::finish(vm);
}

/// Defects: MAP_PRIVATE was accepted and then lost records after the first
/// copy-on-write; mprotect(PROT_EXEC) was allowed after mmap; a read()
/// blocked before mmap was never woken; after munmap the file was useless.
fn a_mapping_is_shared_never_executable_and_can_end(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let ProbeReport::MmapLifecycle(r) = vm.probe(Probe::MmapLifecycle).unwrap() else { panic!("wrong report") };
    let mut m = common::Mismatches::default();
    m.check("MAP_PRIVATE", &r.map_private, &StepOutcome::Errno(libc::EINVAL));
    m.check("PROT_EXEC", &r.map_exec, &StepOutcome::Errno(libc::EPERM));
    m.check("mprotect(PROT_EXEC)", &r.mprotect_exec, &StepOutcome::Errno(libc::EACCES));
    // A mapped file's new records are in its ring: the blocked reader is told.
    m.check("read() blocked when the file got mapped", &r.blocked_read, &StepOutcome::Errno(libc::EBUSY));

    // One stream across mmap and munmap: the ring takes the records after
    // mmap; at munmap what it still holds goes back behind what was
    // queued before; a new mmap works.
    let echo_seqs = |got: &StepOutcome<Vec<Event>>| -> StepOutcome<Vec<u16>> {
        match got {
            StepOutcome::Ok(events) => {
                for e in events {
                    assert_eq!((e.echo_id, e.flags), (MMAP_ECHO_ID, uapi::EVF_SYNTHETIC), "{e:?}");
                }
                assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "kernel order {events:#?}");
                StepOutcome::Ok(events.iter().map(|e| e.echo_seq).collect())
            }
            StepOutcome::Errno(e) => StepOutcome::Errno(*e),
            StepOutcome::Failed(f) => StepOutcome::Failed(f.clone()),
        }
    };
    // The fourth is written only once the second mmap worked.
    let written: Vec<u16> = r.written.iter().map(|e| e.echo_seq).collect();
    assert!([&[1, 2, 3][..], &[1, 2, 3, 4]].contains(&written.as_slice()), "{written:?}");
    m.check("first ring", &echo_seqs(&r.first_ring), &StepOutcome::Ok(vec![2]));
    m.check("munmap", &r.unmap, &StepOutcome::Ok(()));
    m.check("read() after munmap", &echo_seqs(&r.read_after_unmap), &StepOutcome::Ok(vec![1, 2, 3]));
    m.check("mmap after munmap", &r.map_again, &StepOutcome::Ok(()));
    m.check("second ring", &echo_seqs(&r.second_ring), &StepOutcome::Ok(vec![4]));
    m.assert_none("mmap life cycle");
    common::finish(vm);
}

kulink::kernel_tests!(
    source: ring_records_equal_the_netlink_copy, a_mapping_is_shared_never_executable_and_can_end);
