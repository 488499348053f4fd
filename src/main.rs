use std::process::ExitCode;

/// mimalloc instead of the system allocator: burn's CPU backend allocates and frees
/// megabyte-sized tensors at every op, and glibc's malloc hands such blocks back to the kernel
/// (mmap/munmap), so every op page-faulted its output in afresh (40 % of a dhnet-s training
/// step's samples were in the kernel's page-fault and TLB-shootdown paths). Measured with
/// `deblur bench --models nafnet-s --sizes 128 --train-batch 8 --shards 2 --devices cpu`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    deblur::cli::main()
}
