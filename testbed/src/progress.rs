//! Progress of long steps as typed events. Library code reports events and
//! never prints; one renderer, chosen once per process, shows them: bars on
//! a terminal (the CLI's choice), plain lines at most every few seconds
//! everywhere else (CI logs, tests, other programs using the library).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What a task counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Files, counted one by one.
    Files,
    /// Bytes, shown in KiB, MiB and GiB.
    Bytes,
}

/// Names one task among those running at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskId(u64);

/// One thing that happened in a long step.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A step with no count of its own, or a notice worth a line.
    Note(String),
    /// A counted task began; `total` is what it expects to reach, if known.
    Started {
        /// The task.
        task: TaskId,
        /// What it does, for a person.
        label: String,
        /// What it counts.
        unit: Unit,
        /// The count it expects to reach.
        total: Option<u64>,
    },
    /// The task's count is now `done`.
    Advanced {
        /// The task.
        task: TaskId,
        /// Its count so far.
        done: u64,
    },
    /// The task ended: `Some(summary)` when it succeeded, `None` when it was
    /// abandoned (its error is reported elsewhere).
    Finished {
        /// The task.
        task: TaskId,
        /// Its summary line, or `None` when it was abandoned.
        summary: Option<String>,
    },
}

/// Shows events to a person.
pub trait Render: Send + Sync {
    /// Shows one event (called from any thread).
    fn show(&self, event: &Event);
}

static RENDERER: OnceLock<Box<dyn Render>> = OnceLock::new();

/// Chooses how this process shows progress; the first choice holds.
/// Without one, events become plain lines on stderr.
pub fn set_renderer(renderer: Box<dyn Render>) {
    let _ = RENDERER.set(renderer);
}

fn report(event: Event) {
    RENDERER.get_or_init(|| Box::new(Lines::default())).show(&event);
}

/// Reports a step that has no count.
pub fn note(text: impl Into<String>) {
    report(Event::Note(text.into()));
}

/// A counted task. Dropping it unfinished reports it abandoned.
pub struct Task {
    id: TaskId,
    finished: bool,
}

impl Task {
    /// Starts a counted task and reports it.
    pub fn start(label: impl Into<String>, unit: Unit, total: Option<u64>) -> Task {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = TaskId(NEXT.fetch_add(1, Ordering::Relaxed));
        report(Event::Started { task: id, label: label.into(), unit, total });
        Task { id, finished: false }
    }

    /// Reports that the task's count is now `done`.
    pub fn set(&self, done: u64) {
        report(Event::Advanced { task: self.id, done });
    }

    /// Ends the task with a one-line summary.
    pub fn finish(mut self, summary: impl Into<String>) {
        self.finished = true;
        report(Event::Finished { task: self.id, summary: Some(summary.into()) });
    }

    /// Runs `work` while reporting the size of `path` (a file or a
    /// directory, such as a download in progress) every quarter second.
    pub fn watching_size<T>(&self, path: &Path, work: impl FnOnce() -> T) -> T {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Duration::from_millis(250)) {
                    self.set(size_of(path));
                }
            });
            let result = work();
            drop(stop);
            result
        })
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if !self.finished {
            report(Event::Finished { task: self.id, summary: None });
        }
    }
}

/// Bytes in a file, or in the files under a directory.
fn size_of(path: &Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| size_of(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// How often a plain-line renderer repeats a task's count.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// Plain lines on stderr: each task's count at most every `LINE_EVERY` (ten seconds).
#[derive(Default)]
pub struct Lines {
    tasks: Mutex<HashMap<TaskId, LineTask>>,
}

struct LineTask {
    label: String,
    unit: Unit,
    total: Option<u64>,
    started: Instant,
    shown: Instant,
}

impl Render for Lines {
    fn show(&self, event: &Event) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Note(text) => eprintln!("kulink: {text}"),
            Event::Started { task, label, unit, total } => {
                eprintln!("kulink: {label}");
                let now = Instant::now();
                tasks.insert(
                    *task,
                    LineTask { label: label.clone(), unit: *unit, total: *total, started: now, shown: now },
                );
            }
            Event::Advanced { task, done } => {
                if let Some(t) = tasks.get_mut(task).filter(|t| t.shown.elapsed() >= LINE_EVERY) {
                    t.shown = Instant::now();
                    eprintln!("kulink: {}: {}", t.label, count_line(t.unit, *done, t.total, t.started.elapsed()));
                }
            }
            Event::Finished { task, summary } => {
                if let (Some(t), Some(summary)) = (tasks.remove(task), summary) {
                    eprintln!("kulink: {}: {summary}", t.label);
                }
            }
        }
    }
}

/// A count as a person reads it: how far, how long so far, and (with a
/// total) how long is left at the rate so far.
pub fn count_line(unit: Unit, done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let minutes = |d: Duration| format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60);
    let amount = |n: u64| match unit {
        Unit::Files => n.to_string(),
        Unit::Bytes => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    };
    let what = match (unit, total) {
        (Unit::Files, Some(total)) => format!("{done}/{total} files"),
        (Unit::Files, None) => format!("{done} files"),
        (Unit::Bytes, Some(total)) => format!("{} of {}", amount(done), amount(total)),
        (Unit::Bytes, None) => amount(done),
    };
    let mut line = format!("{what}, {}", minutes(elapsed));
    if unit == Unit::Bytes && elapsed.as_secs_f64() > 0.0 {
        line += &format!(", {}/s", amount((done as f64 / elapsed.as_secs_f64()) as u64));
    }
    if let Some(total) = total.filter(|&t| done > 0 && t > done) {
        let left = elapsed.mul_f64((total - done) as f64 / done as f64);
        line += &format!(", about {} left", minutes(left));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_counts_say_how_far_and_how_long_is_left() {
        let line = count_line(Unit::Files, 100, Some(400), Duration::from_secs(60));
        assert_eq!(line, "100/400 files, 1m00s, about 3m00s left");
        assert_eq!(count_line(Unit::Files, 5, None, Duration::from_secs(3)), "5 files, 0m03s");
        // Past the estimate: no time left is promised.
        assert_eq!(count_line(Unit::Files, 500, Some(400), Duration::from_secs(75)), "500/400 files, 1m15s");
    }

    #[test]
    fn byte_counts_say_size_and_rate() {
        let mib = 1024 * 1024;
        let line = count_line(Unit::Bytes, 20 * mib, Some(80 * mib), Duration::from_secs(10));
        assert_eq!(line, "20.0 MiB of 80.0 MiB, 0m10s, 2.0 MiB/s, about 0m30s left");
        assert_eq!(count_line(Unit::Bytes, 3 * mib, None, Duration::from_secs(1)), "3.0 MiB, 0m01s, 3.0 MiB/s");
    }

    /// A renderer that keeps what it was shown.
    #[derive(Default)]
    struct Kept(Mutex<Vec<Event>>);

    impl Render for &'static Kept {
        fn show(&self, event: &Event) {
            self.0.lock().unwrap().push(event.clone());
        }
    }

    /// nextest runs each test in a process of its own: the renderer is
    /// this test's to choose.
    #[test]
    fn a_task_reports_start_growth_and_end_or_abandonment() {
        static KEPT: OnceLock<Kept> = OnceLock::new();
        let kept = KEPT.get_or_init(Kept::default);
        set_renderer(Box::new(kept));
        let dir = std::env::temp_dir().join(format!("kulink-progress-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let task = Task::start("fetching", Unit::Bytes, Some(300));
        task.watching_size(&dir, || {
            std::fs::write(dir.join("a"), [0u8; 100]).unwrap();
            std::fs::write(dir.join("sub/b"), [0u8; 200]).unwrap();
            std::thread::sleep(Duration::from_millis(600));
        });
        task.finish("done");
        drop(Task::start("building", Unit::Files, None));
        std::fs::remove_dir_all(&dir).unwrap();

        let events = kept.0.lock().unwrap().clone();
        let Event::Started { task: fetching, .. } = events[0].clone() else { panic!("{events:?}") };
        assert!(events.contains(&Event::Advanced { task: fetching, done: 300 }), "{events:?}");
        let ends: Vec<_> = events.iter().filter(|e| matches!(e, Event::Finished { .. })).cloned().collect();
        let Event::Started { task: building, .. } = events[events.len() - 2].clone() else { panic!("{events:?}") };
        assert_eq!(
            ends,
            [
                Event::Finished { task: fetching, summary: Some("done".into()) },
                Event::Finished { task: building, summary: None }
            ]
        );
    }
}
