use std::process::ExitCode;

fn main() -> ExitCode {
    deblur::cli::main()
}
