//! `resize`: the window size of a container's terminal, set by the shim that holds it.

use super::Container;
use crate::error::{Error, Result};
use crate::pty::WinSize;
use crate::state::Status;

impl Container {
    /// Sets the window size of the container's terminal (a shim's `terminal: true`); the
    /// kernel sends its foreground processes SIGWINCH. Clients attached to a terminal call
    /// it on their own SIGWINCH with [`crate::pty::size`] of their stdin. For `exec` with a
    /// pty the caller holds the master: [`crate::pty::set_size`] on it instead.
    pub fn resize(&self, size: WinSize) -> Result<()> {
        if self.record.shim.is_none() {
            return Err(Error::Shim {
                id: self.id.clone(),
                message: "cannot resize the terminal: the container has no shim holding one".into(),
            });
        }
        let status = self.status();
        if status == Status::Stopped {
            return Err(self.bad_state(status, "created, running or paused"));
        }
        crate::shim::resize(&self.dir, &self.id, size)
    }
}
