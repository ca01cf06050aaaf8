//! Progress bars for a person at a terminal: the testbed's progress events
//! drawn with indicatif, one bar per running task, notes above them. The
//! library and the core never draw; elsewhere they print plain lines.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kulink::testbed::progress::{Event, Render, TaskId, Unit};

/// The bars of the tasks running now.
pub struct Bars {
    multi: indicatif::MultiProgress,
    bars: Mutex<HashMap<TaskId, indicatif::ProgressBar>>,
}

impl Bars {
    /// Bars with nothing running yet.
    pub fn new() -> Self {
        Bars { multi: indicatif::MultiProgress::new(), bars: Mutex::new(HashMap::new()) }
    }

    fn style(unit: Unit, total: Option<u64>) -> indicatif::ProgressStyle {
        let template = match (unit, total) {
            (Unit::Files, Some(_)) => "kulink: {msg} [{bar:30}] {pos}/{len} files, {elapsed}, about {eta} left",
            (Unit::Files, None) => "kulink: {msg} {spinner} {pos} files, {elapsed}",
            (Unit::Bytes, Some(_)) => "kulink: {msg} [{bar:30}] {bytes}/{total_bytes}, {bytes_per_sec}",
            (Unit::Bytes, None) => "kulink: {msg} {spinner} {bytes}, {bytes_per_sec}",
        };
        indicatif::ProgressStyle::with_template(template).expect("the templates above are valid").progress_chars("=> ")
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Render for Bars {
    fn show(&self, event: &Event) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Note(text) => {
                let _ = self.multi.println(format!("kulink: {text}"));
            }
            Event::Started { task, label, unit, total } => {
                let bar = self.multi.add(indicatif::ProgressBar::new(total.unwrap_or(0)));
                bar.set_style(Self::style(*unit, *total));
                bar.set_message(label.clone());
                bar.enable_steady_tick(Duration::from_millis(200));
                bars.insert(*task, bar);
            }
            Event::Advanced { task, done } => {
                if let Some(bar) = bars.get(task) {
                    // An estimate may fall short: the bar grows rather than overflows.
                    if bar.length().is_some_and(|len| len > 0 && *done > len) {
                        bar.set_length(*done);
                    }
                    bar.set_position(*done);
                }
            }
            Event::Finished { task, summary } => {
                if let Some(bar) = bars.remove(task) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                    if let Some(summary) = summary {
                        let _ = self.multi.println(format!("kulink: {}: {summary}", bar.message()));
                    }
                }
            }
        }
    }
}
