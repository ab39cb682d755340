//! `etl`: run declarative ETL pipelines. See `etl --help`.

use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc instead of the system allocator: parsing and staging make millions of small,
/// short-lived allocations (docs/performance.md has the figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: how long freed memory is kept before it goes back
/// to the OS (10 ms by default, times 10 for its arenas).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

#[allow(unsafe_code)]
mod allocator {
    unsafe extern "C" {
        /// From the mimalloc library the `mimalloc` crate links.
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }

    /// Sets a mimalloc option.
    pub(crate) fn set_option(option: std::ffi::c_int, value: std::ffi::c_long) {
        // SAFETY: plain integers in; mimalloc's options are atomics, safe to set from any
        // thread at any time, and an unknown option is ignored.
        unsafe { mi_option_set(option, value) }
    }

    /// Turns transparent huge pages off for this process, the memory mapped already
    /// included (the kernel checks at each fault). mimalloc asks for huge pages for its
    /// arenas: each first touch then zeroes 2 MiB, and memory freed is returned in 2 MiB
    /// pieces or not at all, about 30 MiB of the peak at large scale (docs/performance.md).
    #[cfg(target_os = "linux")]
    pub(crate) fn no_huge_pages() {
        // SAFETY: `prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)` reads no memory of ours; it fails
        // only on kernels older than 3.15, and then nothing changes.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) fn no_huge_pages() {}
}

fn main() -> ExitCode {
    // Freed memory goes back to the OS at once: the fetch's page buffers are freed before
    // polars reads the staged tables, and with the default delay both count in the peak
    // (about 170 MiB against 110 at large scale; docs/performance.md). mimalloc's own
    // `MIMALLOC_PURGE_DELAY` (milliseconds) still decides when it is set.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        allocator::set_option(MI_OPTION_PURGE_DELAY, 0);
    }
    // Likewise `MIMALLOC_ALLOW_THP=1` leaves transparent huge pages as the system has them.
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        allocator::no_huge_pages();
    }
    let cli = etl_runner::cli::Cli::parse();
    etl_runner::commands::execute(&cli).unwrap_or_else(|e| {
        e.report();
        ExitCode::from(e.exit_code())
    })
}
