//! GPU work of our own and its CPU references (the references run on the CPU backend).

pub mod pde_cpu;
