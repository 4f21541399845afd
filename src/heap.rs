//! How the process's allocator keeps memory (glibc only; elsewhere nothing changes).
//!
//! Each phase is a thread. By default glibc gives busy threads arenas of their own (up to
//! eight per core), and after a large block is freed it raises the size from which blocks
//! get a mapping of their own, so later large documents are carved from the arenas. Both
//! keep freed memory in the process: at 20,000 tasks the engine's peak RSS was about 1.7×
//! its peak heap. Two arenas and a fixed 128 KiB mapping threshold (a document or a large
//! vector is mapped, and unmapped when freed) cut that peak by about a quarter at no
//! measured CPU cost, and handing free pages back every couple of seconds
//! ([`release_free`]) another 75 MiB (docs/PERFORMANCE.md "Memory").

/// Sets the allocator up for a long-running engine. Call before any thread starts. A
/// setting the user chose (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`) is left alone.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let chosen = |name: &str| std::env::var_os(name).is_some();
        if !chosen("MALLOC_ARENA_MAX") {
            set(libc::M_ARENA_MAX, 2);
        }
        if !chosen("MALLOC_MMAP_THRESHOLD_") {
            set(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set(param: libc::c_int, value: libc::c_int) {
    // SAFETY: `mallopt` only changes allocator parameters; it takes the allocator's own
    // lock, and any value is valid (a refused one returns 0 and changes nothing).
    #[allow(unsafe_code)]
    let accepted = unsafe { libc::mallopt(param, value) };
    if accepted == 0 {
        tracing::debug!(param, value, "mallopt refused the setting");
    }
}

/// Hands memory the allocator holds free back to the system (glibc: `malloc_trim`, which
/// also releases free pages inside the arenas). Costs a walk of the heap: call it rarely.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` takes the allocator's own locks and only returns free
        // memory; any argument is valid.
        #[allow(unsafe_code)]
        unsafe {
            libc::malloc_trim(0)
        };
    }
}
