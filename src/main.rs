//! The `feedfold` binary: parses arguments, sets up logging (see
//! `feedfold::logging`), runs the command,
//! and turns errors into one line on stderr with exit code 2.

use std::process::ExitCode;

use clap::Parser;
use feedfold::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logging = feedfold::logging::init(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("feedfold: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(cli::run(cli, &logging)) {
        Ok(()) => ExitCode::SUCCESS,
        // `feedfold stories | head` closing the pipe early is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("feedfold: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c.downcast_ref::<std::io::Error>().map(|io| io.kind());
        let json = c
            .downcast_ref::<serde_json::Error>()
            .and_then(|j| j.io_error_kind());
        io.or(json) == Some(std::io::ErrorKind::BrokenPipe)
    })
}
