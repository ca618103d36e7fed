//! The `splitbrain` command line; everything it does lives in the library.

fn main() -> std::process::ExitCode {
    splitbrain::cli::main()
}
