//! The bottleneck heatmap: a workflow's steps (rows) by periods of the
//! range (columns), each cell shaded by the step's p95 in that period.
//!
//! Each row is shaded against its own highest p95, not the map's: a 200 ms
//! step that became 600 ms must stand out beside a 40 s step that did not
//! change. Exact figures are in each cell's tooltip; failures outline a
//! cell in red, and a cell whose executions waited longer for a slot than
//! they ran is hatched (starved, not slow).

use chrono::{DateTime, Datelike, Utc};
use leptos::prelude::*;
use wire::{format, Heatmap, HeatmapCell};

/// Rows drawn; the rest (the steps that took least time) are counted.
const ROWS: usize = 20;

/// A period's start as the axis shows it: the clock, with the date when
/// the periods are long enough for days to matter.
fn when(at: DateTime<Utc>, bucket_secs: u64) -> String {
    if bucket_secs >= 3 * 3_600 {
        format!(
            "{:02}-{:02} {}",
            at.month(),
            at.day(),
            format::clock(at, false)
        )
    } else {
        format::clock(at, false)
    }
}

/// How dark a cell is, 0 to 1: its p95 against the row's highest, with a
/// floor so that any cell with executions is visible.
fn shade(p95: Option<f64>, row_max: f64) -> Option<f64> {
    let p = p95?;
    Some(if row_max > 0.0 {
        (0.15 + 0.85 * p / row_max).clamp(0.15, 1.0)
    } else {
        0.15
    })
}

fn tooltip(step: &str, at: DateTime<Utc>, c: &HeatmapCell) -> String {
    if c.executions == 0 {
        return format!("{step} · {}: no executions", format::exact(at));
    }
    let mut t = format!(
        "{step} · {}: {}, p95 {}",
        format::exact(at),
        format::quantity(c.executions, "execution", "executions"),
        format::maybe_duration(c.p95_duration_secs)
    );
    if c.failures > 0 {
        t += &format!(", {} failed", c.failures);
    }
    if let Some(q) = c.avg_queued_secs.filter(|q| *q > 0.0) {
        t += &format!(", waited {} for a slot", format::duration(q));
    }
    t
}

#[component]
pub fn HeatmapChart(map: Heatmap) -> impl IntoView {
    let columns = map.buckets.len();
    if map.steps.is_empty() || columns == 0 {
        return view! { <p class="muted" data-testid="heatmap-empty">"No step executed in this range."</p> }
            .into_any();
    }
    let hidden = map.steps.len().saturating_sub(ROWS);
    let labels = [0, columns / 2, columns - 1];
    let bucket = map.bucket_secs;
    let buckets = map.buckets.clone();
    let rows = map.steps.into_iter().take(ROWS).map(|row| {
        let row_max = row
            .cells
            .iter()
            .filter_map(|c| c.p95_duration_secs)
            .fold(0.0, f64::max);
        let step = row.step_id.clone();
        // A row may be short (from an older server): pad with blanks.
        let cells = (0..columns).map(|i| {
            let cell = row.cells.get(i).cloned().unwrap_or_default();
            let v = shade(cell.p95_duration_secs, row_max);
            let starved = cell
                .avg_queued_secs
                .zip(cell.p95_duration_secs)
                .is_some_and(|(q, p)| q > p);
            let title = tooltip(&step, buckets[i], &cell);
            view! {
                <span
                    class="hm-cell"
                    class:ran=v.is_some()
                    class:failed={cell.failures > 0}
                    class:starved=starved
                    style=v.map(|v| format!("--v:{v:.2}"))
                    title=title
                ></span>
            }
        }).collect_view();
        let total = format!("{} in all", format::duration(row.total_duration_secs));
        view! {
            <div class="hm-row" data-step=step.clone()>
                <span class="hm-label" title=total>{step.clone()}</span>
                <span class="hm-cells" style=format!("grid-template-columns: repeat({columns}, 1fr)")>{cells}</span>
            </div>
        }
    }).collect_view();
    view! {
        <div class="heatmap" data-testid="heatmap" data-columns=columns>
            {rows}
            <div class="hm-row hm-axis">
                <span class="hm-label"></span>
                <span class="hm-ticks">
                    {labels.into_iter().map(|i| view! { <span>{when(buckets[i], bucket)}</span> }).collect_view()}
                </span>
            </div>
        </div>
        <p class="muted small">
            {format!("Each column is {}; a cell is darker as the step's p95 nears its highest in the range. ", format::span(bucket))}
            <span class="hm-key failed"></span>" failures · "
            <span class="hm-key starved"></span>" waited longer for a slot than it ran"
            {(hidden > 0).then(|| format!(" · and {} taking less time", format::quantity(hidden as u64, "more step", "more steps")))}
        </p>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_shade_against_their_row_and_blanks_stay_blank() {
        assert_eq!(shade(None, 5.0), None);
        assert_eq!(shade(Some(5.0), 5.0), Some(1.0));
        assert_eq!(shade(Some(0.0), 5.0), Some(0.15));
        // A zero-length step is still seen to have run.
        assert_eq!(shade(Some(0.0), 0.0), Some(0.15));
    }

    #[test]
    fn long_periods_say_the_day() {
        let at: DateTime<Utc> = "2026-12-01T09:30:00Z".parse().unwrap();
        assert_eq!(when(at, 60), "09:30");
        assert_eq!(when(at, 6 * 3_600), "12-01 09:30");
    }
}
