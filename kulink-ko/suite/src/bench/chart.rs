//! The benchmark as a picture (`kulink bench --plot FILE`): per kernel,
//! each channel's events per second beside NFLOG's, and how long a guest
//! takes to start, booted, restored and under virtme-ng. Log scales: the
//! figures span several orders of magnitude.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::summary::Summary;

const WIDTH: u32 = 1200;
const ROW_HEIGHT: u32 = 440;
/// The throughput panel's share of a row's width.
const LEFT: u32 = 720;

/// Writes the chart of `summaries` to `path` as SVG.
pub fn write_svg(summaries: &[Summary], path: &Path) -> Result<()> {
    let height = 50 + ROW_HEIGHT * summaries.len().max(1) as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled("kulink bench: one run per kernel", ("sans-serif", 22))?;
    for (row, s) in root.split_evenly((summaries.len().max(1), 1)).iter().zip(summaries) {
        let (left, right) = row.split_horizontally(LEFT);
        let title = format!("{} ({}, {}): events per second", s.kernel, s.kernel_release, s.accel);
        bars(&left, &title, &throughput_bars(s), |v| format!("{v:.0}"))?;
        bars(&right, "guest start, ms", &start_bars(s), |v| format!("{v:.0} ms"))?;
    }
    root.present().with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// The throughput runs at full speed, then the same frames through
/// kulink.ko and NFLOG at the largest batch.
fn throughput_bars(s: &Summary) -> Vec<(String, f64)> {
    let mut bars: Vec<(String, f64)> = s
        .channels
        .runs
        .iter()
        .filter(|m| m.section == "throughput")
        .map(|m| (super::channels::describe(&m.figures.run), m.figures.events_per_s))
        .collect();
    if let Some(f) = s.channels.frames.iter().max_by_key(|f| f.run.batch) {
        bars.push((format!("frames: kulink.ko batch {}", f.run.batch), f.kulink.events_per_s));
        bars.push((format!("frames: NFLOG threshold {}", f.run.batch), f.nflog.events_per_s));
    }
    bars
}

/// Boot to ready (uptime, wall), restore, and each tool's command start.
fn start_bars(s: &Summary) -> Vec<(String, f64)> {
    let mut bars = vec![
        ("ready, guest uptime".to_owned(), s.boot_ms_median as f64),
        ("ready, wall".to_owned(), s.wall_ms_median as f64),
    ];
    if let Some(ms) = s.restore_ms_median {
        bars.push(("restored, wall".into(), ms as f64));
    }
    if let Some(c) = &s.command_start {
        bars.push(("kulink: boot, true, off".into(), c.kulink_boot_ms_median as f64));
        if let Some(ms) = c.kulink_restore_ms_median {
            bars.push(("kulink: restore, true, off".into(), ms as f64));
        }
        bars.push(("vng --exec true".into(), c.vng_ms_median as f64));
    }
    bars
}

/// Horizontal bars on a log scale, each labelled with its value.
fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    bars: &[(String, f64)],
    label: impl Fn(f64) -> String,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let positive = || bars.iter().map(|b| b.1).filter(|v| *v > 0.0);
    let low = positive().fold(f64::INFINITY, f64::min).clamp(0.1, 1.0);
    let high = positive().fold(1.0, f64::max) * 8.0;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(210)
        .build_cartesian_2d((low..high).log_scale(), (0..bars.len()).into_segmented())?;
    // The first bar on top: segment 0 is at the bottom.
    let row = |i: usize| bars.len() - 1 - i;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if *i < bars.len() => bars[row(*i)].0.clone(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (name, value))| {
        let color = if name.contains("NFLOG") || name.contains("vng") { RED.mix(0.6) } else { BLUE.mix(0.6) };
        let mut bar = Rectangle::new(
            [(low, SegmentValue::Exact(row(i))), (value.max(low), SegmentValue::Exact(row(i) + 1))],
            color.filled(),
        );
        bar.set_margin(3, 3, 0, 0);
        bar
    }))?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, value))| {
        Text::new(format!(" {}", label(*value)), (value.max(low), SegmentValue::CenterOf(row(i))), ("sans-serif", 12))
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::summary::tests::sample;

    #[test]
    fn the_chart_has_a_bar_and_its_figure_for_every_measurement() {
        let path = std::env::temp_dir().join(format!("kulink-chart-{}.svg", std::process::id()));
        write_svg(&[sample(590, Some(120), 30.0)], &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for label in ["netlink-multicast", "mmap-ring", "vng --exec true", "restored, wall", " 600000", " 120 ms"] {
            assert!(svg.contains(label), "{label} is not in the chart");
        }
    }
}
