//! Seccomp: an OCI `linux.seccomp` compiled into a classic BPF program, Docker's default
//! profile, Docker's profile files, and the install in the container's init.
//!
//! The filter is compiled for the host's arch only: calls of any other ABI (i386 on
//! x86_64, x32) kill the process, as a profile that does not list those arches would.
//! The compiler is ours rather than libseccomp's or seccompiler's: it is small, it needs no
//! C library, and it keeps OCI's semantics (first matching rule, `errnoRet`, 64-bit args)
//! in one place we can test.

mod bpf;
pub mod cache;
mod docker;
mod install;
mod profile;
mod syscalls;

use std::path::PathBuf;

pub use bpf::{Insn, Program, compile};
pub use docker::{from_security_opt, load_docker_profile, parse_docker_profile};
pub use install::install;
pub use profile::default_profile;

/// What went wrong with a seccomp profile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("seccomp profile: unknown syscall {0:?} (not a syscall of any arch we know)")]
    UnknownSyscall(String),
    #[error("seccomp profile: action {0} is not supported (it needs a seccomp agent)")]
    Unsupported(String),
    #[error("seccomp profile: syscall {name}: argument index {index} is out of range (0-5)")]
    BadArgIndex { name: String, index: usize },
    #[error("seccomp profile: syscall {name}: SCMP_CMP_MASKED_EQ needs valueTwo")]
    MaskedEqWithoutValueTwo { name: String },
    #[error("seccomp profile: syscall {0}: too many argument rules for one filter jump")]
    TooLong(String),
    #[error("seccomp profile: {0} BPF instructions, the kernel takes at most 4096")]
    TooBig(usize),
    #[error("seccomp profile: the host arch {0} has no syscall table here")]
    UnsupportedArch(&'static str),
    #[error("seccomp profile {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("seccomp profile {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The host's arch as the kernel's audit arch and its syscall table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostArch {
    pub name: &'static str,
    /// `AUDIT_ARCH_*`: what `seccomp_data.arch` holds for this ABI.
    pub audit: u32,
    /// Syscall numbers with this bit set belong to another ABI (x32 on x86_64).
    pub foreign_nr_bit: Option<u32>,
    table: &'static [(&'static str, u32)],
}

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

/// The arch this binary runs on.
pub fn host_arch() -> Result<HostArch> {
    if cfg!(target_arch = "x86_64") {
        Ok(HostArch {
            name: "x86_64",
            audit: AUDIT_ARCH_X86_64,
            foreign_nr_bit: Some(0x4000_0000),
            table: syscalls::X86_64,
        })
    } else if cfg!(target_arch = "aarch64") {
        Ok(HostArch {
            name: "aarch64",
            audit: AUDIT_ARCH_AARCH64,
            foreign_nr_bit: None,
            table: syscalls::AARCH64,
        })
    } else {
        Err(Error::UnsupportedArch(std::env::consts::ARCH))
    }
}

impl HostArch {
    /// The number of syscall `name` on this arch.
    pub fn number(&self, name: &str) -> Option<u32> {
        self.table
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, nr)| *nr)
    }

    /// Docker's name for this arch in `includes.arches`.
    pub fn docker_name(&self) -> &'static str {
        match self.name {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        }
    }
}

/// Calls that exist only on arches we carry no table for (arm, s390, riscv, powerpc,
/// alpha, mips, sparc, m68k); naming them in a profile is no typo. Docker's and podman's
/// profiles name several.
const OTHER_ARCH_NAMES: [&str; 34] = [
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "breakpoint",
    "cacheflush",
    "set_tls",
    "sync_file_range2",
    "s390_pci_mmio_read",
    "s390_pci_mmio_write",
    "s390_runtime_instr",
    "s390_guarded_storage",
    "s390_sthyi",
    "riscv_flush_icache",
    "riscv_hwprobe",
    "spu_create",
    "spu_run",
    "pciconfig_iobase",
    "pciconfig_read",
    "pciconfig_write",
    "recv",
    "send",
    "swapcontext",
    "sys_debug_setcontext",
    "subpage_prot",
    "rtas",
    "multiplexer",
    "syscall",
    "timerfd",
    "cachectl",
    "sysmips",
    "kern_features",
    "utrap_install",
    "perfctr",
    "atomic_barrier",
    "atomic_cmpxchg_32",
];

/// Whether `name` is a syscall on some arch: else a profile naming it has a typo.
pub fn is_known_anywhere(name: &str) -> bool {
    [syscalls::X86_64, syscalls::AARCH64, syscalls::I386]
        .iter()
        .any(|t| t.iter().any(|(n, _)| *n == name))
        || OTHER_ARCH_NAMES.contains(&name)
}

/// Every syscall name of the host's arch.
pub fn host_names() -> Result<Vec<&'static str>> {
    Ok(host_arch()?.table.iter().map(|(n, _)| *n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_know_the_common_calls() -> Result<()> {
        let a = host_arch()?;
        assert!(a.number("execve").is_some());
        assert!(a.number("mkdirat").is_some());
        if a.name == "x86_64" {
            assert_eq!(a.number("read"), Some(0));
            assert_eq!(a.number("mkdir"), Some(83));
            assert_eq!(a.number("clone3"), Some(435));
        }
        assert!(is_known_anywhere("_llseek"));
        assert!(is_known_anywhere("arch_prctl"));
        assert!(!is_known_anywhere("mkdri"));
        Ok(())
    }

    #[test]
    fn aarch64_table_is_the_generic_one() {
        let n = |name: &str| {
            syscalls::AARCH64
                .iter()
                .find(|(x, _)| *x == name)
                .map(|p| p.1)
        };
        assert_eq!(n("openat"), Some(56));
        assert_eq!(n("mmap"), Some(222));
        assert_eq!(n("open"), None);
        assert_eq!(n("clone3"), Some(435));
    }
}
