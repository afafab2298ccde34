//! Service: how `feedfold run` lives under a supervisor — Unix signals, the
//! systemd notification protocol (`READY=1`, `WATCHDOG=1`, `STOPPING=1`,
//! `STATUS=`) and the liveness record that the watchdog and `/healthz` share.
//!
//! The scheduler loop proves it is alive by a round-trip through the database
//! writer every heartbeat interval ([`Liveness::beat`]); only then is systemd's
//! watchdog pinged. A stuck loop or a stuck writer therefore stops the pings,
//! and systemd restarts the service after `WatchdogSec=`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use tokio::signal::unix::{signal, Signal as UnixSignal, SignalKind};

/// Heartbeat interval when systemd asks for no watchdog.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);

/// A signal the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: stop. Carries the signal's number and name.
    Shutdown {
        /// Signal number, for the exit code of a forced exit (128 + number).
        number: i32,
        /// `SIGTERM` or `SIGINT`.
        name: &'static str,
    },
    /// SIGHUP: re-read the configuration.
    Reload,
}

/// The daemon's signal handlers. Installing them replaces the default
/// actions, so SIGHUP no longer kills the process and SIGINT/SIGTERM no
/// longer kill it abruptly.
pub struct Signals {
    term: UnixSignal,
    int: UnixSignal,
    hup: UnixSignal,
}

impl Signals {
    /// Installs the handlers. Call before telling systemd the service is ready.
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the next signal.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Shutdown { number: 15, name: "SIGTERM" },
            _ = self.int.recv() => Signal::Shutdown { number: 2, name: "SIGINT" },
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}

/// What the scheduler loop reports about itself: the heartbeat behind the
/// watchdog and `/healthz`, the last finished pass, and the state systemd
/// shows in `systemctl status`.
#[derive(Debug)]
pub struct Liveness {
    started: Instant,
    /// Milliseconds after `started` of the last heartbeat; `u64::MAX` = none yet.
    heartbeat_ms: AtomicU64,
    /// Unix time of the last pass that finished without a database error; 0 = none.
    last_pass: AtomicU64,
    stopping: AtomicBool,
    watchdog: Option<Duration>,
}

impl Liveness {
    /// A liveness record with the watchdog interval systemd passed in
    /// `WATCHDOG_USEC` (for this process, per `WATCHDOG_PID`), if any.
    pub fn from_env() -> Liveness {
        Liveness::new(sd_notify::watchdog_enabled())
    }

    /// A liveness record; `watchdog` is the watchdog interval, if any.
    pub fn new(watchdog: Option<Duration>) -> Liveness {
        Liveness {
            started: Instant::now(),
            heartbeat_ms: AtomicU64::new(u64::MAX),
            last_pass: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            watchdog: watchdog.filter(|d| !d.is_zero()),
        }
    }

    /// How often the scheduler loop should prove it is alive: half the
    /// watchdog interval, as sd_watchdog_enabled(3) advises, else 10 s.
    pub fn heartbeat_interval(&self) -> Duration {
        self.watchdog.map_or(DEFAULT_HEARTBEAT, |w| w / 2)
    }

    /// Tells systemd that start-up is done (migrations applied, scheduler running).
    pub fn ready(&self, status: &str) {
        notify(&[NotifyState::Ready, NotifyState::Status(status)]);
        tracing::info!(
            watchdog_ms = self.watchdog.map(|w| w.as_millis() as u64),
            "{status}"
        );
    }

    /// Records a heartbeat (the loop ran and the writer answered) and pings
    /// the watchdog.
    pub fn beat(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.heartbeat_ms.store(ms, Ordering::SeqCst);
        if self.watchdog.is_some() {
            notify(&[NotifyState::Watchdog]);
        }
    }

    /// Time since the last heartbeat, `None` before the first.
    pub fn heartbeat_age(&self) -> Option<Duration> {
        match self.heartbeat_ms.load(Ordering::SeqCst) {
            u64::MAX => None,
            ms => Some(
                self.started
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms)),
            ),
        }
    }

    /// Whether the loop checked in recently: within three heartbeat
    /// intervals, so one slow round-trip does not count as a failure.
    pub fn is_fresh(&self) -> bool {
        self.heartbeat_age()
            .is_some_and(|age| age <= self.heartbeat_interval() * 3)
    }

    /// Records a finished pass and shows its summary in `systemctl status`.
    pub fn pass_done(&self, at: chrono::DateTime<chrono::Utc>, summary: &str) {
        let secs = u64::try_from(at.timestamp()).unwrap_or(0);
        self.last_pass.store(secs, Ordering::SeqCst);
        let local = chrono::DateTime::<chrono::Local>::from(at).format("%H:%M:%S");
        notify(&[NotifyState::Status(&format!(
            "last poll {local}: {summary}"
        ))]);
    }

    /// Unix time of the last finished pass, if any.
    pub fn last_pass(&self) -> Option<u64> {
        Some(self.last_pass.load(Ordering::SeqCst)).filter(|s| *s > 0)
    }

    /// Tells systemd the service is stopping.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        notify(&[
            NotifyState::Stopping,
            NotifyState::Status("stopping: finishing fetches in flight"),
        ]);
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// Sends a notification if `NOTIFY_SOCKET` is set; a failure is logged, not
/// fatal: the daemon works the same without a supervisor.
fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_is_half_the_watchdog_and_goes_stale() {
        let l = Liveness::new(Some(Duration::from_secs(20)));
        assert_eq!(l.heartbeat_interval(), Duration::from_secs(10));
        assert!(!l.is_fresh(), "no heartbeat yet");
        l.beat();
        assert!(l.is_fresh());

        let l = Liveness::new(None);
        assert_eq!(l.heartbeat_interval(), DEFAULT_HEARTBEAT);
        let l = Liveness::new(Some(Duration::from_millis(2)));
        l.beat();
        std::thread::sleep(Duration::from_millis(10));
        assert!(!l.is_fresh(), "3 ms of freshness are long gone");
    }
}
