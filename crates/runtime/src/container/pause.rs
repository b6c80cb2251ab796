//! `pause` and `resume`: every process of the container frozen and thawed (freezer v1,
//! `cgroup.freeze` v2).

use super::Container;
use crate::error::Result;
use crate::state::Status;

impl Container {
    /// Freezes every process of the running container.
    pub fn pause(&self) -> Result<()> {
        let status = self.status();
        if status != Status::Running {
            return Err(self.bad_state(status, "running"));
        }
        self.cgroup.set_frozen(true)
    }

    /// Thaws a paused container.
    pub fn resume(&self) -> Result<()> {
        let status = self.status();
        if status != Status::Paused {
            return Err(self.bad_state(status, "paused"));
        }
        self.cgroup.set_frozen(false)
    }
}
