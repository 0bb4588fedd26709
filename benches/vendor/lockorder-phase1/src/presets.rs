//! Ready-made lock hierarchies.

use crate::error::Error;
use crate::registry::Builder;

/// The foundation hierarchy: eight locks for asynchronous start-up and core infrastructure.
///
/// Orders are banded: 0-99 orchestration, 100-199 early subsystems, 200-299 core
/// infrastructure; 300 and above are left for the application.
///
/// | name | order | description |
/// |---|---|---|
/// | `foundation.async.hub.init` | 0 | Async hub initialization |
/// | `foundation.async.init.coordinator` | 10 | Async initialization coordinator |
/// | `foundation.async.stream` | 20 | Async log stream management |
/// | `foundation.async.logger.lazy` | 100 | Async lazy logger initialization |
/// | `foundation.async.logger.setup` | 110 | Async logger setup coordination |
/// | `foundation.async.config` | 200 | Async configuration system |
/// | `foundation.async.registry` | 210 | Async component registry |
/// | `foundation.async.hub.components` | 220 | Async hub component management |
///
/// ```
/// let mut b = lockorder::LockManager::builder();
/// lockorder::presets::foundation(&mut b)?;
/// b.register("app.cache", 300)?; // the application's own locks go above
/// let m = b.build();
/// assert_eq!(m.locks().next().unwrap().name(), "foundation.async.hub.init");
/// # Ok::<(), lockorder::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::DuplicateName`] or [`Error::DuplicateOrder`] if the builder already has a clashing
/// lock; the builder is then unchanged (all eight locks or none).
pub fn foundation<T>(b: &mut Builder<T>) -> Result<(), Error> {
    b.register_all(&FOUNDATION)
}

const FOUNDATION: [(&str, u32, &str); 8] = [
    ("foundation.async.hub.init", 0, "Async hub initialization"),
    (
        "foundation.async.init.coordinator",
        10,
        "Async initialization coordinator",
    ),
    ("foundation.async.stream", 20, "Async log stream management"),
    (
        "foundation.async.logger.lazy",
        100,
        "Async lazy logger initialization",
    ),
    (
        "foundation.async.logger.setup",
        110,
        "Async logger setup coordination",
    ),
    ("foundation.async.config", 200, "Async configuration system"),
    ("foundation.async.registry", 210, "Async component registry"),
    (
        "foundation.async.hub.components",
        220,
        "Async hub component management",
    ),
];
