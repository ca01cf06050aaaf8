//! What the testbed's host and its guest agent agree on, whatever module
//! they test: the boot contract on the kernel command line and the control
//! protocol on a virtio-serial port. A module's suite adds its own
//! commands, replies and messages through an [`Extension`].

#![deny(missing_docs)]

pub mod boot;
pub mod control;

pub use boot::{parse_preload_line, preload_line, BootConfig, BootError, MODULE_PARAM_KEY, PRELOAD_LIST};
pub use control::{
    patience, AgentMsg, Booted, Command, DeviceAnswers, DeviceArg, DeviceBurst, DeviceCall, Extension, Failure,
    FailureKind, FileBytes, GenlAnswer, GenlBurst, GenlDelivery, GenlEvent, GenlMessage, GenlRequest, GuestFileBytes,
    NetlinkDelivery, NetlinkEvent, NetlinkRequest, Netns, NoExtension, Nothing, Ran, RawGenl, Ready, Reply, Request,
    TestSetup, ANSWER_MARGIN, CHILD_DIED, CHILD_STUCK, DEVICE_ARENA, HOST_ROOT_DIR, HOST_ROOT_MERGED, HOST_ROOT_TAG,
    KERNEL_LOG_PORT, NOBODY, NO_NETLINK_PROTOCOL, OUTPUT_LIMIT, PORT_NAME, SHELL_PORT,
};
