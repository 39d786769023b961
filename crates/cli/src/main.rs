//! The `drydock` binary: the program is the `drydock_cli` library's [`drydock_cli::main`].

fn main() -> std::process::ExitCode {
    drydock_cli::main()
}
