//! One container, for real: namespaces, cgroups, overlayfs rootfs, mounts, devices,
//! capabilities, seccomp, rlimits, the user; the shim that holds its stdio and logs.

pub mod user;
