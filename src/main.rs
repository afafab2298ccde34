//! The `feedfold` binary: parses arguments, sets up logging (see
//! `feedfold::logging`), runs the command,
//! and turns errors into one line on stderr with exit code 2.

use std::process::ExitCode;

use clap::Parser;
use feedfold::cli::{self, Cli};

/// Allocations from this size up get their own mapping, returned to the
/// system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 << 10;

/// Pins glibc's mmap threshold at its default. Left dynamic, glibc raises it
/// to the size of every mapped block freed: after a 2 MB buffer (a feed
/// body, the band key filter) is freed once, blocks up to that size come
/// from the heap arenas and stay there. That held 10–20 MB more at the peak
/// of a cold poll (BENCHMARKS.md, fifth round).
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it runs first in
    // main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

fn main() -> ExitCode {
    fix_mmap_threshold();
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
            eprintln!("feedfold: {}", message(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes as one line, each said once. Our error types
/// print their cause in their own message (`database x.db: file is not a
/// database`) and also return it as their `source`, and rusqlite's error
/// has SQLite's raw `Error code 26: …` as its source: `{:#}` printed the
/// same words three times. A cause whose words are already on the line is
/// left out.
fn message(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        // SQLite's raw form repeats the message it comes with.
        let words = match text.strip_prefix("Error code ") {
            Some(rest) => rest.split_once(": ").map_or(rest, |(_, w)| w),
            None => &text,
        };
        if line.contains(words) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
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
