//! Docker's default seccomp profile, in spirit: an allowlist of the ordinary syscalls,
//! everything else refused with EPERM, a few calls allowed only with safe arguments, and
//! the calls each capability is there to permit unlocked when the container holds it.
//!
//! The lists follow the kernel's syscall table and Docker's documented behavior; they are
//! written here, not copied from Docker's profile.

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompArg,
    LinuxSeccompArgBuilder, LinuxSeccompOperator as Op, LinuxSyscall,
};

/// Calls any container may make. Left out, besides those of [`BY_CAPABILITY`]: the keyring
/// (`add_key`, `keyctl`, `request_key`: not namespaced), kernel modules and `kexec_*`,
/// `userfaultfd`, `io_uring_*` (a large attack surface Docker dropped too), swap, `acct`,
/// NUMA policy, `uselib`, `ustat`, `sysfs`, `_sysctl`, `nfsservctl`, `lookup_dcookie`,
/// `statmount`/`listmount`, the `lsm_*` calls, `memfd_secret`, and the never-implemented
/// slots (`tuxcall`, `security`, `afs_syscall`, `putpmsg`, `getpmsg`, `vserver`...).
/// `ptrace`, `process_vm_*`, `kcmp` and `pidfd_getfd` are allowed as Docker does on
/// Linux >= 4.8, where ptrace can no longer be used to get around the filter.
const ALLOWED: [&str; 302] = [
    "read",
    "write",
    "open",
    "close",
    "stat",
    "fstat",
    "lstat",
    "poll",
    "lseek",
    "mmap",
    "mprotect",
    "munmap",
    "brk",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "ioctl",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "access",
    "pipe",
    "select",
    "sched_yield",
    "mremap",
    "msync",
    "mincore",
    "madvise",
    "shmget",
    "shmat",
    "shmctl",
    "dup",
    "dup2",
    "pause",
    "nanosleep",
    "getitimer",
    "alarm",
    "setitimer",
    "getpid",
    "sendfile",
    "connect",
    "accept",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "shutdown",
    "bind",
    "listen",
    "getsockname",
    "getpeername",
    "socketpair",
    "setsockopt",
    "getsockopt",
    "fork",
    "vfork",
    "execve",
    "exit",
    "wait4",
    "kill",
    "uname",
    "semget",
    "semop",
    "semctl",
    "shmdt",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "fcntl",
    "flock",
    "fsync",
    "fdatasync",
    "truncate",
    "ftruncate",
    "getdents",
    "getcwd",
    "chdir",
    "fchdir",
    "rename",
    "mkdir",
    "rmdir",
    "creat",
    "link",
    "unlink",
    "symlink",
    "readlink",
    "chmod",
    "fchmod",
    "chown",
    "fchown",
    "lchown",
    "umask",
    "gettimeofday",
    "getrlimit",
    "getrusage",
    "sysinfo",
    "times",
    "ptrace",
    "getuid",
    "getgid",
    "setuid",
    "setgid",
    "geteuid",
    "getegid",
    "setpgid",
    "getppid",
    "getpgrp",
    "setsid",
    "setreuid",
    "setregid",
    "getgroups",
    "setgroups",
    "setresuid",
    "getresuid",
    "setresgid",
    "getresgid",
    "getpgid",
    "setfsuid",
    "setfsgid",
    "getsid",
    "capget",
    "capset",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "rt_sigsuspend",
    "sigaltstack",
    "utime",
    "mknod",
    "statfs",
    "fstatfs",
    "getpriority",
    "setpriority",
    "sched_setparam",
    "sched_getparam",
    "sched_setscheduler",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "mlock",
    "munlock",
    "mlockall",
    "munlockall",
    "modify_ldt",
    "prctl",
    "arch_prctl",
    "adjtimex",
    "setrlimit",
    "sync",
    "gettid",
    "readahead",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "tkill",
    "time",
    "futex",
    "sched_setaffinity",
    "sched_getaffinity",
    "set_thread_area",
    "io_setup",
    "io_destroy",
    "io_getevents",
    "io_submit",
    "io_cancel",
    "get_thread_area",
    "epoll_create",
    "remap_file_pages",
    "getdents64",
    "set_tid_address",
    "restart_syscall",
    "semtimedop",
    "fadvise64",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "exit_group",
    "epoll_wait",
    "epoll_ctl",
    "tgkill",
    "utimes",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    "waitid",
    "ioprio_set",
    "ioprio_get",
    "inotify_init",
    "inotify_add_watch",
    "inotify_rm_watch",
    "openat",
    "mkdirat",
    "mknodat",
    "fchownat",
    "futimesat",
    "newfstatat",
    "unlinkat",
    "renameat",
    "linkat",
    "symlinkat",
    "readlinkat",
    "fchmodat",
    "faccessat",
    "pselect6",
    "ppoll",
    "set_robust_list",
    "get_robust_list",
    "splice",
    "tee",
    "sync_file_range",
    "vmsplice",
    "utimensat",
    "epoll_pwait",
    "signalfd",
    "timerfd_create",
    "eventfd",
    "fallocate",
    "timerfd_settime",
    "timerfd_gettime",
    "accept4",
    "signalfd4",
    "eventfd2",
    "epoll_create1",
    "dup3",
    "pipe2",
    "inotify_init1",
    "preadv",
    "pwritev",
    "rt_tgsigqueueinfo",
    "recvmmsg",
    "fanotify_mark",
    "prlimit64",
    "syncfs",
    "sendmmsg",
    "getcpu",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "sched_setattr",
    "sched_getattr",
    "renameat2",
    "seccomp",
    "getrandom",
    "memfd_create",
    "execveat",
    "membarrier",
    "mlock2",
    "copy_file_range",
    "preadv2",
    "pwritev2",
    "pkey_mprotect",
    "pkey_alloc",
    "pkey_free",
    "statx",
    "io_pgetevents",
    "rseq",
    "pidfd_send_signal",
    "pidfd_open",
    "close_range",
    "openat2",
    "pidfd_getfd",
    "faccessat2",
    "process_madvise",
    "epoll_pwait2",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "process_mrelease",
    "futex_waitv",
    "cachestat",
    "fchmodat2",
    "map_shadow_stack",
    "futex_wake",
    "futex_wait",
    "futex_requeue",
    "mseal",
    "setxattrat",
    "getxattrat",
    "listxattrat",
    "removexattrat",
    "file_getattr",
    "file_setattr",
];

/// Calls a capability unlocks: the container gets them when it holds that capability.
const BY_CAPABILITY: [(Capability, &[&str]); 14] = [
    (
        Capability::SysAdmin,
        &[
            "bpf",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "open_tree_attr",
            "perf_event_open",
            "pivot_root",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount2",
            "unshare",
        ],
    ),
    (Capability::SysBoot, &["reboot"]),
    (Capability::SysChroot, &["chroot"]),
    (
        Capability::SysModule,
        &["delete_module", "init_module", "finit_module"],
    ),
    (Capability::SysPacct, &["acct"]),
    (Capability::SysRawio, &["iopl", "ioperm"]),
    (
        Capability::SysTime,
        &["settimeofday", "clock_settime", "clock_adjtime"],
    ),
    (Capability::SysTtyConfig, &["vhangup"]),
    (
        Capability::SysNice,
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
            "migrate_pages",
            "move_pages",
        ],
    ),
    (Capability::Syslog, &["syslog"]),
    (Capability::Bpf, &["bpf"]),
    (Capability::Perfmon, &["perf_event_open"]),
    (
        Capability::DacReadSearch,
        &["open_by_handle_at", "name_to_handle_at"],
    ),
    (Capability::SysAdmin, &["clone", "clone3"]),
];

/// The namespace flags of clone(2): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
/// NEWPID, NEWNET. Without CAP_SYS_ADMIN a container may not make namespaces.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// personality(2) values Docker lets through: PER_LINUX, PER_LINUX32, UNAME26,
/// PER_LINUX32|UNAME26, and the query 0xffffffff.
const PERSONALITIES: [u64; 5] = [0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];
const AF_VSOCK: u64 = 40;
const ENOSYS: u32 = 38;
const EPERM: u32 = 1;

fn syscall(names: &[&str], action: A, args: Vec<LinuxSeccompArg>) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| n.to_string()).collect());
    s.set_action(action);
    if !args.is_empty() {
        s.set_args(Some(args));
    }
    s
}

fn arg(index: usize, op: Op, value: u64, value_two: Option<u64>) -> LinuxSeccompArg {
    let b = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    let b = match value_two {
        Some(v) => b.value_two(v),
        None => b,
    };
    // Every field has a default: building cannot fail.
    b.build().unwrap_or_default()
}

/// Docker's default profile for a container whose capability bounding set is `caps`.
pub fn default_profile(caps: &HashSet<Capability>) -> LinuxSeccomp {
    let mut rules = vec![syscall(&ALLOWED, A::ScmpActAllow, Vec::new())];
    for p in PERSONALITIES {
        rules.push(syscall(
            &["personality"],
            A::ScmpActAllow,
            vec![arg(0, Op::ScmpCmpEq, p, None)],
        ));
    }
    rules.push(syscall(
        &["socket"],
        A::ScmpActAllow,
        vec![arg(0, Op::ScmpCmpNe, AF_VSOCK, None)],
    ));
    if !caps.contains(&Capability::SysAdmin) {
        let mask = arg(0, Op::ScmpCmpMaskedEq, CLONE_NAMESPACE_FLAGS, Some(0));
        rules.push(syscall(&["clone"], A::ScmpActAllow, vec![mask]));
        // clone3 passes its flags in memory the filter cannot read: ENOSYS makes libc
        // fall back to clone, whose flags it can check.
        let mut clone3 = syscall(&["clone3"], A::ScmpActErrno, Vec::new());
        clone3.set_errno_ret(Some(ENOSYS));
        rules.push(clone3);
    }
    for (cap, names) in BY_CAPABILITY {
        if caps.contains(&cap) {
            rules.push(syscall(names, A::ScmpActAllow, Vec::new()));
        }
    }
    let mut p = LinuxSeccomp::default();
    p.set_default_action(A::ScmpActErrno);
    p.set_default_errno_ret(Some(EPERM));
    p.set_architectures(Some(vec![native_arch()]));
    p.set_syscalls(Some(rules));
    p
}

fn native_arch() -> Arch {
    if cfg!(target_arch = "aarch64") {
        Arch::ScmpArchAarch64
    } else {
        Arch::ScmpArchX86_64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(p: &LinuxSeccomp, name: &str) -> bool {
        p.syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == A::ScmpActAllow && s.names().iter().any(|n| n == name))
    }

    #[test]
    fn every_listed_name_is_a_syscall() {
        for n in ALLOWED
            .iter()
            .chain(BY_CAPABILITY.iter().flat_map(|(_, n)| n.iter()))
        {
            assert!(super::super::is_known_anywhere(n), "{n}");
        }
    }

    #[test]
    fn capabilities_unlock_their_calls() {
        let none = default_profile(&HashSet::new());
        for n in [
            "mount",
            "unshare",
            "setns",
            "reboot",
            "init_module",
            "chroot",
        ] {
            assert!(!allows(&none, n), "{n}");
        }
        for n in ["keyctl", "add_key", "kexec_load", "userfaultfd"] {
            assert!(!allows(&none, n), "{n}");
        }
        assert!(allows(&none, "read") && allows(&none, "execve"));
        let admin = default_profile(&[Capability::SysAdmin].into_iter().collect());
        for n in ["mount", "unshare", "setns", "clone3"] {
            assert!(allows(&admin, n), "{n}");
        }
        assert!(!allows(&admin, "keyctl"));
        let chroot = default_profile(&[Capability::SysChroot].into_iter().collect());
        assert!(allows(&chroot, "chroot"));
    }

    #[test]
    fn the_default_profile_compiles() -> super::super::Result<()> {
        let p = super::super::compile(&default_profile(&crate::spec::default_capabilities()))?;
        assert!(p.insns.len() > 300, "{}", p.insns.len());
        Ok(())
    }
}
