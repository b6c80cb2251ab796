//! Loading a compiled filter into the calling thread: one syscall, no allocation, so the
//! container's init can do it between fork and exec.
//!
//! The kernel accepts a filter only from a thread with `no_new_privs` set or with
//! CAP_SYS_ADMIN: the plan installs it right before exec when `no_new_privs` is on, and
//! before the capabilities are dropped when it is off.

use crate::sys::{Errno, SysResult};

use super::Program;

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// The kernel's `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const super::Insn,
}

/// Installs `prog` on the calling thread (and, with its TSYNC flag, the whole process).
pub fn install(prog: &Program) -> SysResult<()> {
    let len = libc::c_ushort::try_from(prog.insns.len()).map_err(|_| Errno(libc::E2BIG))?;
    let fprog = SockFprog {
        len,
        filter: prog.insns.as_ptr(),
    };
    // SAFETY: fprog points at `len` instructions laid out as `struct sock_filter`, alive for
    // the call; the kernel copies them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(prog.flags),
            &fprog as *const SockFprog,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}
