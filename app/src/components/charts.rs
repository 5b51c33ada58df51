//! Small SVG charts, drawn on the server and in the browser alike. Each is a
//! plain function of its data: no state, no JavaScript needed to see it.

use leptos::prelude::*;

use wire::format;
use wire::{HistogramSample, RecentRun, ThroughputPoint};

/// Points of a polyline through `values`, scaled into `w × h` (y grows down).
pub fn polyline(values: &[f64], w: f64, h: f64, max: f64) -> String {
    if values.is_empty() {
        return String::new();
    }
    let max = if max > 0.0 { max } else { 1.0 };
    let step = if values.len() > 1 {
        w / (values.len() - 1) as f64
    } else {
        0.0
    };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - (v / max).clamp(0.0, 1.0) * h
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A tiny trend line, for tables.
#[component]
pub fn Sparkline(
    values: Vec<f64>,
    #[prop(default = 96.0)] width: f64,
    #[prop(default = 24.0)] height: f64,
) -> impl IntoView {
    let max = values.iter().copied().fold(0.0, f64::max);
    let points = polyline(&values, width, height - 2.0, max);
    let label = match values.as_slice() {
        [] => "no runs yet".into(),
        [only] => format!("1 run, {}", format::duration(*only)),
        [first, .., last] => format!(
            "{} runs, from {} to {}",
            format::count(values.len() as u64),
            format::duration(*first),
            format::duration(*last)
        ),
    };
    // A line needs two runs; one is drawn as a dot rather than nothing, at the
    // height a line puts its largest value (the top).
    let dot = (values.len() == 1)
        .then(|| view! { <circle cx=width / 2.0 cy="1" r="2" fill="currentColor"/> });
    let aria = label.clone();
    view! {
        <svg class="sparkline" width=width height=height viewBox=format!("0 -1 {width} {height}") role="img" aria-label=aria>
            <title>{label}</title>
            <polyline points=points fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round"/>
            {dot}
        </svg>
    }
}

/// Coloured dots for recent runs, newest on the right.
#[component]
pub fn Pips(runs: Vec<RecentRun>) -> impl IntoView {
    let mut runs = runs;
    runs.reverse();
    let aria = format!(
        "last {}",
        format::quantity(runs.len() as u64, "run", "runs")
    );
    view! {
        <span class="pips" aria-label=aria>
            {runs
                .into_iter()
                .map(|r| {
                    let status = r.status.as_str();
                    let title = format!(
                        "{status}{} — {}",
                        r.duration_secs.map(|d| format!(" in {}", format::duration(d))).unwrap_or_default(),
                        format::exact(r.completed_at)
                    );
                    view! { <a class="pip" data-status=status href=format!("/traces/{}", r.run_id) title=title></a> }
                })
                .collect_view()}
        </span>
    }
}

/// A line chart of durations with a labelled axis (workflow detail).
#[component]
pub fn DurationChart(values: Vec<f64>) -> impl IntoView {
    let (w, h, pad, top) = (640.0, 170.0, 48.0, 10.0);
    let max = values.iter().copied().fold(0.0, f64::max) * 1.1;
    let plot = h - 20.0 - top;
    let points = polyline(&values, w - pad, plot, max);
    let ticks = [0.0, 0.5, 1.0].map(|f| (top + plot - f * plot, format::duration(max * f)));
    // One run is a dot where a line would start (a line needs two).
    let dot = match values.as_slice() {
        [only] => Some(view! {
            <circle cx="0" cy=plot - (only / max.max(f64::MIN_POSITIVE)).clamp(0.0, 1.0) * plot r="4" class="series-dot">
                <title>{format!("1 run, {}", format::duration(*only))}</title>
            </circle>
        }),
        _ => None,
    };
    view! {
        <svg class="chart" viewBox=format!("0 0 {w} {h}") role="img" aria-label="Duration of recent runs">
            {ticks
                .into_iter()
                .map(|(y, label)| {
                    view! {
                        <line x1=pad x2=w y1=y y2=y class="grid"/>
                        <text x=pad - 4.0 y=y + 4.0 class="axis" text-anchor="end">{label}</text>
                    }
                })
                .collect_view()}
            <g transform=format!("translate({pad},{top})")>
                <polyline points=points class="series" fill="none"/>
                {dot}
            </g>
        </svg>
    }
}

/// Horizontal bars: one per (label, value), scaled to the largest.
#[component]
pub fn Bars(
    rows: Vec<(String, f64, String)>,
    #[prop(optional)] highlight: Option<String>,
) -> impl IntoView {
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    view! {
        <div class="bars">
            {rows
                .into_iter()
                .map(|(label, value, text)| {
                    let pct = if max > 0.0 { value / max * 100.0 } else { 0.0 };
                    let hot = highlight.as_deref() == Some(label.as_str());
                    view! {
                        <div class="bar-row" class:hot=hot>
                            <span class="bar-label">{label}</span>
                            <span class="bar-track">
                                <span class="bar-fill" style=format!("width:{pct:.1}%")></span>
                            </span>
                            <span class="bar-value">{text}</span>
                        </div>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// p50 / p95 / p99 as three nested bars on a shared scale.
#[component]
pub fn PercentileBars(
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    scale: f64,
) -> impl IntoView {
    let w = |v: Option<f64>| match v {
        Some(v) if scale > 0.0 && v.is_finite() => (v / scale * 100.0).clamp(0.0, 100.0),
        _ => 0.0,
    };
    let title = format!(
        "p50 {} · p95 {} · p99 {}",
        format::maybe_duration(p50),
        format::maybe_duration(p95),
        format::maybe_duration(p99)
    );
    view! {
        <span class="pbars" title=title.clone() aria-label=title>
            <span class="pbar p99" style=format!("width:{:.1}%", w(p99))></span>
            <span class="pbar p95" style=format!("width:{:.1}%", w(p95))></span>
            <span class="pbar p50" style=format!("width:{:.1}%", w(p50))></span>
        </span>
    }
}

/// Executions per minute over the last hour: completed above, failed in red.
#[component]
pub fn ThroughputChart(points: Vec<ThroughputPoint>) -> impl IntoView {
    let (w, h) = (360.0, 80.0);
    let n = points.len().max(1) as f64;
    let max = points
        .iter()
        .map(ThroughputPoint::executions)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bw = w / n;
    let total = format::total(points.iter().map(ThroughputPoint::executions));
    view! {
        <svg class="chart throughput" viewBox=format!("0 0 {w} {h}") role="img"
            aria-label=format!("{total} executions in the last hour")>
            {points
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let x = i as f64 * bw;
                    let ok_h = p.completed as f64 / max * h;
                    let bad_h = p.failed as f64 / max * h;
                    let title = format!(
                        "{}: {} completed, {} failed",
                        format::clock(p.at, false),
                        p.completed,
                        p.failed
                    );
                    view! {
                        <g>
                            <title>{title}</title>
                            <rect x=x + 0.5 y=h - ok_h - bad_h width=(bw - 1.0).max(0.5) height=ok_h class="ok"/>
                            <rect x=x + 0.5 y=h - bad_h width=(bw - 1.0).max(0.5) height=bad_h class="bad"/>
                        </g>
                    }
                })
                .collect_view()}
        </svg>
    }
}

/// Dollars per period as bars; periods with nothing priced stay empty.
#[component]
pub fn SpendChart(points: Vec<ThroughputPoint>) -> impl IntoView {
    let (w, h) = (360.0, 80.0);
    let n = points.len().max(1) as f64;
    let max = points.iter().filter_map(|p| p.cost_usd).fold(0.0, f64::max);
    let bw = w / n;
    let total: f64 = points.iter().filter_map(|p| p.cost_usd).sum();
    view! {
        <svg class="chart spend" viewBox=format!("0 0 {w} {h}") role="img"
            aria-label=format!("{} spent", format::usd(Some(total)))>
            {points
                .into_iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let cost = p.cost_usd?;
                    let bar = if max > 0.0 { cost / max * h } else { 0.0 };
                    let title = format!("{}: {}", format::exact(p.at), format::usd(Some(cost)));
                    Some(view! {
                        <g>
                            <title>{title}</title>
                            <rect x=i as f64 * bw + 0.25 y=h - bar width=(bw - 0.5).max(0.5) height=bar.max(0.5) class="cost"/>
                        </g>
                    })
                })
                .collect_view()}
        </svg>
    }
}

/// Success rate per minute (minutes with executions only), as a line.
#[component]
pub fn SuccessChart(points: Vec<ThroughputPoint>) -> impl IntoView {
    let (w, h) = (360.0, 80.0);
    let n = points.len().max(1) as f64;
    let dots: Vec<(f64, f64, String)> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.executions() > 0)
        .map(|(i, p)| {
            let rate = p.completed as f64 / p.executions() as f64;
            (
                i as f64 / (n - 1.0).max(1.0) * w,
                h - 4.0 - rate * (h - 8.0),
                format!(
                    "{}: {}",
                    format::clock(p.at, false),
                    format::percent(rate * 100.0)
                ),
            )
        })
        .collect();
    let line = dots
        .iter()
        .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    view! {
        <svg class="chart success" viewBox=format!("0 0 {w} {h}") role="img" aria-label="Success rate per minute">
            <line x1="0" x2=w y1="4" y2="4" class="grid"/>
            <polyline points=line class="series" fill="none"/>
            {dots
                .into_iter()
                .map(|(x, y, title)| view! { <circle cx=x cy=y r="2.5" class="dot"><title>{title}</title></circle> })
                .collect_view()}
        </svg>
    }
}

/// A histogram's buckets as bars (non-cumulative counts per bucket).
#[component]
pub fn HistogramChart(sample: HistogramSample) -> impl IntoView {
    let mut per_bucket: Vec<u64> = Vec::with_capacity(sample.counts.len() + 1);
    let mut previous = 0;
    for &c in &sample.counts {
        per_bucket.push(c.saturating_sub(previous));
        previous = c;
    }
    per_bucket.push(sample.count.saturating_sub(previous));
    // With many buckets, every other label: they would overlap.
    let every = if sample.buckets.len() > 10 { 2 } else { 1 };
    let labels: Vec<(String, String)> = sample
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            (
                format!("≤{b}"),
                if i % every == 0 {
                    format!("≤{b}")
                } else {
                    String::new()
                },
            )
        })
        .chain(std::iter::once(("+Inf".to_string(), "+Inf".to_string())))
        .collect();
    let max = per_bucket.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = per_bucket.len() as f64;
    let (w, h) = (360.0, 90.0);
    let bw = w / n;
    view! {
        <svg class="chart histogram" viewBox=format!("0 0 {w} {}", h + 14.0) role="img"
            aria-label=format!("{} observations of {}", sample.count, sample.name)>
            {per_bucket
                .into_iter()
                .zip(labels)
                .enumerate()
                .map(|(i, (count, (label, axis)))| {
                    let bh = count as f64 / max * h;
                    let x = i as f64 * bw;
                    view! {
                        <g>
                            <title>{format!("{label}: {count}")}</title>
                            <rect x=x + 1.0 y=h - bh width=(bw - 2.0).max(1.0) height=bh class="ok"/>
                            <text x=x + bw / 2.0 y=h + 11.0 class="axis" text-anchor="middle">{axis}</text>
                        </g>
                    }
                })
                .collect_view()}
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::polyline;

    #[test]
    fn polylines_scale_into_the_box() {
        assert_eq!(
            polyline(&[0.0, 5.0, 10.0], 100.0, 10.0, 10.0),
            "0.0,10.0 50.0,5.0 100.0,0.0"
        );
        assert_eq!(polyline(&[], 100.0, 10.0, 10.0), "");
        assert_eq!(polyline(&[3.0], 100.0, 10.0, 0.0), "0.0,0.0");
    }
}
