//! The daemon's loop: a pass at start-up and on every `poll.schedule` tick
//! (skipped while one runs), a pass at once when a reload asks, the
//! `retention.schedule` prune in the background, the new cron job when a
//! reload changes the schedule, the watchdog heartbeat, and shutdown with a
//! grace period for the fetches in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use super::{PollSummary, Poller, ScheduleError};
use crate::service::Liveness;
use crate::store::{retention, RetentionPolicy, StoreError, StoreHandle};

/// A tokio-cron-scheduler failure as a sentence saying what failed. The
/// library names its errors only by variant (`CantAdd`); that name is kept
/// in parentheses for a bug report. Cron expressions are checked earlier,
/// when the config is read ([`crate::cron::parse`]), with a message of their own.
fn cron_failed(what: &'static str) -> impl Fn(JobSchedulerError) -> ScheduleError {
    move |e| ScheduleError::Cron(format!("{what} (tokio-cron-scheduler error {e:?})"))
}

/// Half the time between two consecutive firings of a cron expression: the
/// window over which a pass spreads each host's feeds. Zero for an
/// expression that does not parse or fires fewer than twice more.
pub fn spread_window(schedule: &str) -> Duration {
    crate::cron::parse(schedule)
        .ok()
        .and_then(|cron| crate::cron::period(&cron, Utc::now()))
        .map_or(Duration::ZERO, |p| p / 2)
}

/// Runs the daemon loop until `stop` turns true: one pass at start-up, then
/// one per cron tick, and a heartbeat (a round-trip through the database
/// writer) every `liveness.heartbeat_interval()` that feeds systemd's watchdog.
///
/// When `stop` turns true no new fetch starts; fetches in flight get `grace`
/// to finish and be written, then the pass is abandoned (results already
/// handed to the writer are still committed).
pub async fn run(
    poller: Arc<Poller>,
    stop: watch::Receiver<bool>,
    grace: Duration,
    liveness: Arc<Liveness>,
) -> Result<(), ScheduleError> {
    let (tick_tx, mut ticks) = mpsc::channel::<()>(1);
    let busy = Arc::new(AtomicBool::new(false));
    let mut scheduler = JobScheduler::new()
        .await
        .map_err(cron_failed("could not create the cron scheduler"))?;
    let mut poll_rx = poller.poll.subscribe();
    let mut schedule = poll_rx.borrow_and_update().schedule.clone();
    let mut job = add_tick_job(&scheduler, &schedule, &busy, &tick_tx).await?;
    let (prune_tx, mut prunes) = mpsc::channel::<()>(1);
    if let Some(r) = &poller.retention {
        let prune_job = Job::new_async(r.schedule.as_str(), move |_, _| {
            let _ = prune_tx.try_send(());
            Box::pin(async {})
        })
        .map_err(cron_failed("retention.schedule was refused"))?;
        scheduler
            .add(prune_job)
            .await
            .map_err(cron_failed("could not add the retention job"))?;
    }
    scheduler
        .start()
        .await
        .map_err(cron_failed("could not start the cron scheduler"))?;
    let _ = tick_tx.try_send(());
    liveness.ready(&format!("scheduler started (schedule {schedule:?})"));

    let mut heartbeat = tokio::time::interval(liveness.heartbeat_interval());
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pass: Option<Pending<(Result<PollSummary, StoreError>, Duration)>> = None;
    let mut probe: Option<Pending<Result<(), StoreError>>> = None;
    let mut probe_started = Instant::now();
    let mut deadline: Option<tokio::time::Instant> = None;
    // The start-up pass fetches what is due at once (within the limits), so
    // a freshly started daemon shows data right away; tick passes spread each
    // host's feeds over half the tick.
    let mut window = Duration::ZERO;
    let mut stopped = stop.clone();
    let mut pruning: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            Some(()) = prunes.recv(), if deadline.is_none() => {
                if pruning.as_ref().is_some_and(|p| !p.is_finished()) {
                    tracing::info!("previous prune still running; skipping this one");
                    continue;
                }
                pruning = poller.retention.as_ref().map(|r| {
                    let policy = RetentionPolicy::new(r.days, r.max_entries_per_feed);
                    tokio::spawn(prune(poller.store.clone(), policy, stop.clone()))
                });
            }
            // A closed channel (sender gone) counts as a stop too.
            _ = stopped.wait_for(|s| *s), if deadline.is_none() => {
                if pass.is_none() {
                    break;
                }
                tracing::info!(grace_ms = grace.as_millis() as u64, "waiting for fetches in flight");
                deadline = Some(tokio::time::Instant::now() + grace);
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                tracing::warn!(
                    grace_ms = grace.as_millis() as u64,
                    "shutdown grace period is over; abandoning the fetches still in flight"
                );
                break;
            }
            (result, took) = wait(&mut pass), if pass.is_some() => {
                pass = None;
                busy.store(false, Ordering::SeqCst);
                pass_done(&result, took, &liveness);
                if deadline.is_some() {
                    break;
                }
            }
            Some(()) = ticks.recv(), if pass.is_none() && deadline.is_none() => {
                pass = Some(start_pass(&poller, &stop, &busy, window));
                window = spread_window(&schedule);
            }
            // A wake (reload added feeds) fetches them at once, unspread.
            () = poller.wake.notified(), if pass.is_none() && deadline.is_none() => {
                pass = Some(start_pass(&poller, &stop, &busy, Duration::ZERO));
            }
            Ok(()) = poll_rx.changed() => {
                let new = poll_rx.borrow_and_update().schedule.clone();
                if new == schedule {
                    continue;
                }
                // The new job is added before the old one goes, so a failure keeps the old.
                match add_tick_job(&scheduler, &new, &busy, &tick_tx).await {
                    Ok(id) => {
                        if let Err(e) = scheduler.remove(&job).await {
                            tracing::warn!("removing the old schedule: {e:?}");
                        }
                        tracing::info!(old = %schedule, new = %new, "poll schedule changed");
                        job = id;
                        schedule = new;
                    }
                    Err(e) => tracing::error!("keeping schedule {schedule}: {e}"),
                }
            }
            _ = heartbeat.tick() => {
                if probe.is_some() {
                    // The writer has not answered the last probe: withhold
                    // the watchdog ping and let systemd judge.
                    tracing::warn!(
                        waited_ms = probe_started.elapsed().as_millis() as u64,
                        "database writer has not answered the heartbeat probe; watchdog not pinged"
                    );
                } else {
                    let store = poller.store.clone();
                    probe_started = Instant::now();
                    probe = Some(Box::pin(async move { store.call(|s| s.probe()).await }));
                }
            }
            result = wait(&mut probe), if probe.is_some() => {
                probe = None;
                match result {
                    Ok(()) => liveness.beat(),
                    Err(e) => tracing::warn!("heartbeat probe failed; watchdog not pinged: {e}"),
                }
            }
        }
    }
    // Dropping an unfinished pass cancels its fetches; whatever already
    // reached the writer's queue is still committed before the writer exits.
    drop(pass);
    if let Some(p) = pruning {
        // The prune stops between batches once `stop` is set.
        let _ = p.await;
    }
    if let Err(e) = scheduler.shutdown().await {
        tracing::warn!("scheduler shutdown: {e:?}");
    }
    Ok(())
}

/// Starts one pass spreading each host's feeds over `spread`; `busy` makes
/// cron ticks that fire meanwhile skip.
fn start_pass(
    poller: &Arc<Poller>,
    stop: &watch::Receiver<bool>,
    busy: &AtomicBool,
    spread: Duration,
) -> Pending<(Result<PollSummary, StoreError>, Duration)> {
    busy.store(true, Ordering::SeqCst);
    let (poller, stop) = (poller.clone(), stop.clone());
    Box::pin(async move {
        let started = Instant::now();
        let result = poller.poll_pass(false, &stop, spread).await;
        (result, started.elapsed())
    })
}

/// Adds the cron job that sends a tick on `schedule`.
async fn add_tick_job(
    scheduler: &JobScheduler,
    schedule: &str,
    busy: &Arc<AtomicBool>,
    tick_tx: &mpsc::Sender<()>,
) -> Result<uuid::Uuid, ScheduleError> {
    let job_busy = busy.clone();
    let job_tx = tick_tx.clone();
    let job = Job::new_async(schedule, move |_, _| {
        let busy = job_busy.clone();
        let tx = job_tx.clone();
        Box::pin(async move {
            if busy.load(Ordering::SeqCst) {
                tracing::info!("previous poll pass still running; skipping this tick");
                return;
            }
            // A full channel means a tick is already waiting: same effect.
            let _ = tx.try_send(());
        })
    })
    .map_err(cron_failed("poll.schedule was refused"))?;
    scheduler
        .add(job)
        .await
        .map_err(cron_failed("could not add the poll job"))
}

/// Runs one prune (`[retention]`) through the writer and logs its summary.
async fn prune(store: StoreHandle, policy: RetentionPolicy, stop: watch::Receiver<bool>) {
    let started = Instant::now();
    match retention::prune(&store, &policy, &stop).await {
        Ok(r) => tracing::info!(
            duration_ms = started.elapsed().as_millis() as u64,
            "prune done: {r}"
        ),
        Err(e) => tracing::error!("prune failed: {e}"),
    }
}

/// A boxed future the loop polls alongside the others.
type Pending<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Waits for an optional future; callers guard the branch with `is_some()`.
async fn wait<T>(f: &mut Option<Pending<T>>) -> T {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Logs the one summary line of a pass and records it.
fn pass_done(result: &Result<PollSummary, StoreError>, took: Duration, liveness: &Liveness) {
    match result {
        Ok(s) => {
            tracing::info!(
                feeds = s.ok + s.failed + s.not_modified,
                ok = s.ok,
                not_modified = s.not_modified,
                errors = s.failed,
                deferred = s.deferred,
                new_entries = s.ingest.new_entries,
                new_stories = s.ingest.new_stories,
                folded = s.ingest.folded,
                duration_ms = took.as_millis() as u64,
                "poll pass done"
            );
            liveness.pass_done(Utc::now(), &s.to_string());
        }
        Err(e) => tracing::error!(
            duration_ms = took.as_millis() as u64,
            "poll pass failed: {e}"
        ),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_window_is_half_the_tick() {
        assert_eq!(spread_window("0 */5 * * * *"), Duration::from_secs(150));
        assert_eq!(spread_window("*/4 * * * * *"), Duration::from_secs(2));
        assert_eq!(spread_window("not cron"), Duration::ZERO);
    }
}
