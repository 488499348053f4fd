use std::process::ExitCode;

/// mimalloc instead of the system allocator: burn's CPU backend allocates and frees
/// megabyte-sized tensors at every op, and glibc's malloc hands such blocks back to the kernel
/// (mmap/munmap), so every op page-faulted its output in afresh (40 % of a dhnet-s training
/// step's samples were in the kernel's page-fault and TLB-shootdown paths). Measured with
/// `deblur bench --devices cpu` (README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`: index 15 of `mi_option_e` in both mimalloc versions that
/// libmimalloc-sys bundles (v2 and v3 `mimalloc.h`); its Rust bindings do not name it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Decision: `deblur train` never hands freed memory back to the OS. With mimalloc's
    // default delay (1 s) a dhnet-s training step took 2.2 s instead of 1.7 s: memory was
    // purged between steps and faulted in again. A training run holds its peak anyway;
    // the app and the other commands keep the default and give memory back when idle.
    // The first argument that is not a flag is the command (the global flags take no value).
    let command = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if command.as_deref() == Some("train") {
        // SAFETY: sets a plain integer option of the linked mimalloc; no other thread runs yet.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    deblur::cli::main()
}
