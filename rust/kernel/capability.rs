// SPDX-License-Identifier: GPL-2.0

//! Capabilities of the current task.
//!
//! C header: [`include/linux/capability.h`](srctree/include/linux/capability.h)

use crate::bindings;

/// A capability, one of the kernel's `CAP_*` numbers.
///
/// # Invariants
///
/// `self.0` is a valid capability number, at most `CAP_LAST_CAP`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability(u32);

impl Capability {
    /// `CAP_NET_ADMIN`: network administration.
    pub const NET_ADMIN: Self = Self(bindings::CAP_NET_ADMIN);

    /// `CAP_SYS_RAWIO`: raw access to I/O ports and memory.
    pub const SYS_RAWIO: Self = Self(bindings::CAP_SYS_RAWIO);

    /// `CAP_SYS_ADMIN`: system administration, what is not covered by another capability.
    pub const SYS_ADMIN: Self = Self(bindings::CAP_SYS_ADMIN);

    /// Returns the capability's number.
    #[inline]
    pub fn as_u32(self) -> u32 {
        self.0
    }
}

/// Checks whether the current task has `cap` in its effective set, in the initial user
/// namespace, as the kernel's `capable()` does.
///
/// The check is audited, and a successful one marks the task as having used a privilege
/// (`PF_SUPERPRIV`): call it when the privilege is about to be used, not to probe for it.
///
/// # Examples
///
/// ```
/// use kernel::capability::{capable, Capability};
///
/// fn reset_all() -> Result {
///     if !capable(Capability::SYS_ADMIN) {
///         return Err(EPERM);
///     }
///     // ...
///     Ok(())
/// }
/// ```
#[inline]
pub fn capable(cap: Capability) -> bool {
    // CAST: By the type invariants, `cap.0` is at most `CAP_LAST_CAP`, which fits an `i32`.
    let cap = cap.0 as i32;

    // SAFETY: `capable()` may be called from any task context with any valid capability
    // number, which `cap` is by the type invariants.
    unsafe { bindings::capable(cap) }
}
