//! Planted bugs, for checking the checks: each [`FAULTS`] entry names one wrong thing the core
//! can be built to do, at a hook `fault!("name")` where the right thing is done.
//!
//! In a normal build every hook is the constant `false` (a `const` block), so the compiler
//! removes it: nothing of this module is in the library's code. Built with `--cfg
//! lockorder_fault` and the environment variable `LOCKORDER_FAULT=<name>` at compile time, the
//! hook of that one fault is `true` and the core does the wrong thing there; every other hook
//! stays `false` (all of them do with the variable unset or empty). A name that is not in
//! [`FAULTS`], in a hook or in the variable, fails the build (`cargo build` or `test`; `cargo
//! check` does not evaluate the hooks' `const` blocks), so a typo cannot leave a check testing
//! nothing.
//!
//! Why a variable beside the cfg: the cfg turns the hooks on for every crate of the build (it
//! comes through `RUSTFLAGS`), and changing `RUSTFLAGS` rebuilds every dependency; a change of
//! the variable rebuilds only this crate (rustc records `option_env!` reads, and cargo rebuilds
//! a path dependency when one changes). So a CI script keeps `RUSTFLAGS` fixed and a target
//! directory of its own, and plants one fault after another by the variable:
//!
//! ```sh
//! RUSTFLAGS="--cfg lockorder_fault" LOCKORDER_FAULT=raw-release-wakes-nobody \
//!     cargo test --target-dir target/fault --lib -- raw::tests
//! ```
//!
//! `.ci/faults.txt` names, for each fault, the check that must catch it:
//! `.ci/checks/70-firmware.sh` plants each one in the firmware and requires that check to fail
//! on every emulated MCU, `.ci/checks/72-faults-host.sh` requires the host test named there to
//! fail. A hook is code, so it moves with the code around it when that is reformatted or
//! rewritten (a text replacement would not). Adding a fault: an entry here, a hook, a line in
//! `.ci/faults.txt`.

use crate::text::same;

/// Every fault a hook can plant, with what it breaks.
pub(crate) const FAULTS: &[(&str, &str)] = &[
    // The raw lock (`raw`).
    (
        "raw-lock-ignores-holder",
        "an exclusive take ignores the holders",
    ),
    (
        "raw-release-wakes-nobody",
        "an exclusive release wakes no waiter",
    ),
    (
        "newcomers-ignore-reservation",
        "an exclusive take ignores a reservation",
    ),
    (
        "release-ignores-reservation",
        "a release wakes the queues, not the reserving waiter",
    ),
    (
        "reserved-take-leaves-queues-unarmed",
        "the reserved take does not set the queues' waiting bits again",
    ),
    (
        "shared-take-ignores-writer",
        "a shared take ignores an exclusive holder",
    ),
    (
        "last-reader-wakes-nobody",
        "the last reader's release wakes no waiter",
    ),
    (
        "new-readers-ignore-waiting-writer",
        "new readers do not yield to waiting writers",
    ),
    (
        "writer-giving-up-strands-readers",
        "a waiting writer that gives up wakes no reader (neither the last one out, G3, nor one leaving the line unwoken, G5)",
    ),
    // The walk (`walk`).
    (
        "cancel-keeps-wake-up",
        "a cancelled waiter keeps a wake-up it did not use",
    ),
    (
        "reservation-never-taken",
        "a woken waiter passed over never reserves the lock",
    ),
    // The timeout path (`acquire`).
    ("timeout-never-fires", "an expired sleep is not seen"),
    ("timeout-twice-as-long", "the sleep lasts twice the timeout"),
    (
        "timeout-keeps-partial-set",
        "a timed-out future keeps the locks it took",
    ),
    // The blocking driver (`acquire`, with `std`: the host only).
    (
        "wait-deadline-ignores-timeout",
        "a blocking wait's deadline is its first busy lock, whatever the timeout",
    ),
];

/// `true` where the fault `$name` is planted (see the [module](self) docs); a constant.
macro_rules! fault {
    ($name:literal) => {
        const { $crate::fault::planted($name) }
    };
}

/// Whether the fault `name` is planted in this build. Evaluated at compile time (through
/// `fault!`): an unknown name fails the build.
pub(crate) const fn planted(name: &str) -> bool {
    assert!(known(name), "fault!: the name is not in fault::FAULTS");
    #[cfg(lockorder_fault)]
    {
        match CHOSEN {
            Some(chosen) => same(chosen, name),
            None => false,
        }
    }
    #[cfg(not(lockorder_fault))]
    {
        false
    }
}

/// The fault this build plants, if any (unset or empty: none).
#[cfg(lockorder_fault)]
const CHOSEN: Option<&str> = match option_env!("LOCKORDER_FAULT") {
    Some(name) if !name.is_empty() => Some(name),
    _ => None,
};

#[cfg(lockorder_fault)]
const _: () = assert!(
    match CHOSEN {
        Some(chosen) => known(chosen),
        None => true,
    },
    "LOCKORDER_FAULT names no fault of src/fault.rs (FAULTS)"
);

const fn known(name: &str) -> bool {
    let mut i = 0;
    while i < FAULTS.len() {
        if same(FAULTS[i].0, name) {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_a_normal_build_plants_nothing() {
        for (i, (name, _)) in FAULTS.iter().enumerate() {
            assert!(known(name));
            assert!(
                FAULTS[..i].iter().all(|(other, _)| !same(other, name)),
                "{name} twice"
            );
            #[cfg(not(lockorder_fault))]
            assert!(!planted(name), "{name} planted in a normal build");
        }
        assert!(!known("no-such-fault"));
        assert!(!same("raw", "raw-lock-ignores-holder"));
    }
}
