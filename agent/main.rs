fn main() -> std::process::ExitCode {
    amagent::cli::main()
}
