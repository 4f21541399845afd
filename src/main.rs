//! The `phase` binary: command line only; all logic is in the library.

fn main() {
    std::process::exit(phase_coordinator::cli::main());
}
