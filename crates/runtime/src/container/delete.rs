//! `delete`: the container's processes, cgroup and state dir removed.

use super::Container;
use crate::error::Result;
use crate::state::Status;

impl Container {
    /// Removes the container. A running one is refused unless `force`, which kills it
    /// first. Every step is tried; the first error is returned. Its mounts live only in its
    /// own mount namespace and went away with its last process.
    pub fn delete(mut self, force: bool) -> Result<()> {
        let status = self.status();
        if status != Status::Stopped {
            if !force {
                return Err(self.bad_state(status, "stopped"));
            }
            self.stop(libc::SIGKILL, std::time::Duration::ZERO)?;
        }
        if self.parent.as_ref().is_some_and(|p| !p.reaped) {
            self.wait()?;
        } else if let Some(shim) = self.record.shim {
            // Let it record the exit and let go of the container's stdio first.
            super::wait::wait_proc(shim)?;
        }
        // Usually the init took everything with it: one rmdir per hierarchy, no reads.
        // Only a cgroup still holding a process (EBUSY) is read, killed and waited for.
        let mut first = None;
        if !matches!(self.cgroup.try_remove(), Ok(true)) {
            first = self.cgroup.kill_all().err();
            if let Err(e) = self.cgroup.remove() {
                first.get_or_insert(e);
            }
        }
        if let Err(e) = crate::spare::remove(&self.dir) {
            first.get_or_insert(crate::error::Error::io("remove", &self.dir, e));
        }
        first.map_or(Ok(()), Err)
    }
}
