//! What the command-line client prints: plain functions from wire types to
//! text, so that they are tested without a terminal. Colour is added by the
//! caller's [`Paint`], which is off when the output is not a terminal.

use chrono::{DateTime, Utc};
use wire::format::{duration, maybe_duration, percent, relative};
use wire::{RunList, RunStatus, ServerMessage, Trace};

/// Colours for a terminal, or none.
#[derive(Clone, Copy)]
pub struct Paint(pub bool);

impl Paint {
    fn with(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A status word in its colour: green done, red failed, yellow stopped.
    pub fn status(self, status: &str) -> String {
        let code = match status {
            "Completed" | "success" => "32",
            "Failed" | "TimedOut" | "failure" => "31",
            "Cancelled" | "Interrupted" | "Retrying" => "33",
            "Running" | "Pending" => "36",
            _ => "2",
        };
        self.with(code, status)
    }

    pub fn dim(self, text: &str) -> String {
        self.with("2", text)
    }

    pub fn bold(self, text: &str) -> String {
        self.with("1", text)
    }
}

/// Text from users (job names, step ids, errors) made inert for a
/// terminal: control characters (escape sequences could retitle the window,
/// move the cursor or fake output) and bidirectional overrides are shown
/// escaped (`\u{1b}`), never sent to the terminal.
pub fn inert(text: &str) -> String {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if unsafe_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The width of a column of step ids as printed: the longest, within 4–32.
pub fn name_width<'a>(ids: impl Iterator<Item = &'a str>) -> usize {
    ids.map(|id| inert(id).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 32)
}

/// A run's trace as a waterfall: one line per step, its bar placed on the
/// run's time axis `bar_width` characters wide, its duration and status;
/// then the bottleneck and the critical path.
pub fn waterfall(trace: &Trace, bar_width: usize, now: DateTime<Utc>, paint: Paint) -> String {
    let bar_width = bar_width.max(10);
    let start = trace
        .started_at
        .or_else(|| trace.steps.iter().filter_map(|s| s.started_at).min());
    let end = trace.completed_at.unwrap_or(now);
    let total = start.map_or(0.0, |s| secs_between(s, end)).max(0.0);
    let name_width = name_width(trace.steps.iter().map(|s| s.step_id.as_str()));
    let mut out = format!(
        "{}  {}  {} {}\n",
        paint.bold(&inert(&trace.job_name)),
        paint.dim(&inert(&trace.run_id)),
        paint.status(trace.status.as_str()),
        match trace.status {
            RunStatus::Pending | RunStatus::Running => format!("{} so far", duration(total)),
            _ => format!("in {}", maybe_duration(trace.duration_secs)),
        }
    );
    for step in &trace.steps {
        let name = clip(&inert(&step.step_id), name_width);
        let bar = match (start, step.started_at) {
            (Some(run_start), Some(began)) => {
                let ended = step.completed_at.unwrap_or(now);
                let (from, to) = bar_span(
                    secs_between(run_start, began),
                    secs_between(run_start, ended),
                    total,
                    bar_width,
                );
                format!(
                    "{}{}{}",
                    " ".repeat(from),
                    "█".repeat(to - from),
                    " ".repeat(bar_width - to)
                )
            }
            _ => " ".repeat(bar_width),
        };
        let mut line = format!(
            "{name:<name_width$} │{bar}│ {:>9}  {}",
            maybe_duration(step.duration_secs),
            paint.status(&step.status)
        );
        if let Some(attempt) = step.attempt.filter(|a| *a > 0) {
            line.push_str(&paint.dim(&format!(" (attempt {})", attempt + 1)));
        }
        if let Some(error) = &step.error {
            let first = error.lines().next().unwrap_or_default();
            let more = if first.len() < error.trim_end().len() {
                "…"
            } else {
                ""
            };
            line.push_str(&format!(": {}{more}", clip(&inert(first), 60)));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if let Some(b) = &trace.bottleneck {
        out.push_str(&format!(
            "bottleneck: {} ({}, {} of the run)\n",
            inert(&b.step_id),
            duration(b.duration_secs),
            percent(b.percentage_of_total)
        ));
    }
    if !trace.critical_path.is_empty() {
        let path: Vec<String> = trace.critical_path.iter().map(|s| inert(s)).collect();
        out.push_str(&format!("critical path: {}\n", path.join(" → ")));
    }
    out
}

/// The characters `[from, to)` a span of `[began, ended]` seconds covers
/// on an axis of `total` seconds drawn `width` wide: at least one, so that
/// a zero-length step still shows where it happened, never past the edge.
fn bar_span(began: f64, ended: f64, total: f64, width: usize) -> (usize, usize) {
    if total <= 0.0 || !total.is_finite() {
        return (0, 1);
    }
    let at = |secs: f64| ((secs.clamp(0.0, total) / total) * width as f64).round() as usize;
    let from = at(began).min(width - 1);
    let to = at(ended).clamp(from + 1, width);
    (from, to)
}

fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// `text` cut to `width` characters, with an ellipsis when it was longer.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// `GET /api/runs` as a table, newest first.
pub fn runs_table(list: &RunList, now: DateTime<Utc>, paint: Paint) -> String {
    if list.runs.is_empty() {
        return "no runs\n".into();
    }
    let rows: Vec<[String; 6]> = list
        .runs
        .iter()
        .map(|r| {
            [
                inert(&r.run_id),
                inert(&r.workflow_id),
                r.status.as_str().to_string(),
                percent(r.progress),
                maybe_duration(r.duration_secs),
                match &r.current_step {
                    Some(step) => format!("{} (at {})", relative(r.created_at, now), inert(step)),
                    None => relative(r.created_at, now),
                },
            ]
        })
        .collect();
    let header = ["RUN", "WORKFLOW", "STATUS", "DONE", "DURATION", "CREATED"];
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: [&str; 6], status: &dyn Fn(&str) -> String| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let shown = if i == 2 {
                status(cell)
            } else {
                cell.to_string()
            };
            l.push_str(&shown);
            if i + 1 < cells.len() {
                l.push_str(&" ".repeat(pad + 2));
            }
        }
        l.push('\n');
        l
    };
    out.push_str(&paint.bold(line(header, &|s| s.to_string()).trim_end()));
    out.push('\n');
    for row in &rows {
        let cells = [row[0].as_str(), &row[1], &row[2], &row[3], &row[4], &row[5]];
        out.push_str(&line(cells, &|s| paint.status(s)));
    }
    if list.total > list.runs.len() as u64 {
        out.push_str(&paint.dim(&format!(
            "{} of {} runs; --limit shows more\n",
            list.runs.len(),
            list.total
        )));
    }
    out
}

/// One line of `shiioo tail` for a message; `None` for those that say
/// nothing about runs or alerts (subscription acknowledgements, pongs).
pub fn tail_line(message: &ServerMessage, now: DateTime<Utc>, paint: Paint) -> Option<String> {
    let clock = paint.dim(&wire::format::clock(now, true));
    Some(match message {
        ServerMessage::WorkflowUpdate(u) => format!(
            "{clock}  run  {}  {} {}  {}",
            inert(&u.run_id),
            paint.status(&inert(&u.status)),
            percent(u.progress),
            inert(&u.message)
        ),
        ServerMessage::StepUpdate(u) => format!(
            "{clock}  step {}  {} {}  {}",
            inert(&u.run_id),
            inert(&u.step_id),
            paint.status(&inert(&u.status)),
            inert(&u.message)
        ),
        ServerMessage::AlertUpdate(a) => format!(
            "{clock}  alert {} {}  {} ({})  {}",
            inert(&a.rule),
            inert(&wire::format::labels(&a.labels)),
            a.state.as_str(),
            a.severity.as_str(),
            inert(&a.message)
        ),
        ServerMessage::Error(e) => format!("{clock}  error  {}", inert(&e.message)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::{StepStatus, TraceBottleneck, TraceStep};

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn step(id: &str, from_ms: i64, to_ms: Option<i64>, status: &str) -> TraceStep {
        TraceStep {
            step_id: id.into(),
            started_at: Some(at(from_ms)),
            completed_at: to_ms.map(at),
            duration_secs: to_ms.map(|t| (t - from_ms) as f64 / 1e3),
            status: status.into(),
            attempt: Some(0),
            error: None,
            step_status: StepStatus::Completed,
            depends_on: vec![],
            queued_secs: None,
            kind: Default::default(),
            usage: None,
        }
    }

    fn trace(steps: Vec<TraceStep>) -> Trace {
        Trace {
            run_id: "01RUN".into(),
            workflow_id: "report".into(),
            job_name: "Report".into(),
            started_at: Some(at(0)),
            completed_at: Some(at(4_000)),
            duration_secs: Some(4.0),
            status: RunStatus::Completed,
            progress: 100.0,
            steps,
            bottleneck: Some(TraceBottleneck {
                step_id: "analyze".into(),
                duration_secs: 2.0,
                percentage_of_total: 50.0,
            }),
            critical_path: vec!["fetch".into(), "analyze".into(), "write".into()],
            created_by: None,
            cancelled_by: None,
            approval_wait_secs: None,
            budget: None,
            cost_usd: None,
            trace_id: None,
        }
    }

    /// The bar of a line: the characters between the two `│`.
    fn bar(line: &str) -> String {
        line.split('│').nth(1).unwrap().to_string()
    }

    #[test]
    fn bars_sit_on_the_runs_time_axis() {
        let t = trace(vec![
            step("fetch", 0, Some(1_000), "Completed"),
            step("analyze", 1_000, Some(3_000), "Completed"),
            step("write", 3_000, Some(4_000), "Completed"),
            step("instant", 2_000, Some(2_000), "Completed"),
        ]);
        let text = waterfall(&t, 40, at(9_999), Paint(false));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Report  01RUN  Completed in 4.00 s");
        assert_eq!(
            bar(lines[1]),
            format!("{}{}", "█".repeat(10), " ".repeat(30))
        );
        assert_eq!(
            bar(lines[2]),
            format!("{}{}{}", " ".repeat(10), "█".repeat(20), " ".repeat(10))
        );
        assert_eq!(
            bar(lines[3]),
            format!("{}{}", " ".repeat(30), "█".repeat(10))
        );
        // A zero-length step is one character where it happened.
        assert_eq!(
            bar(lines[4]),
            format!("{}█{}", " ".repeat(20), " ".repeat(19))
        );
        assert!(lines[2].ends_with("2.00 s  Completed"), "{}", lines[2]);
        assert_eq!(lines[5], "bottleneck: analyze (2.00 s, 50% of the run)");
        assert_eq!(lines[6], "critical path: fetch → analyze → write");
    }

    #[test]
    fn a_run_in_flight_is_drawn_up_to_now_and_errors_are_one_line() {
        let mut t = trace(vec![
            step("fetch", 0, Some(1_000), "Failed"),
            step("analyze", 1_000, None, "Running"),
        ]);
        t.steps[0].error = Some("boom\nwith a second line".into());
        t.steps[0].attempt = Some(1);
        t.status = RunStatus::Running;
        t.completed_at = None;
        t.bottleneck = None;
        t.critical_path.clear();
        let text = waterfall(&t, 20, at(2_000), Paint(false));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Report  01RUN  Running 2.00 s so far");
        assert_eq!(
            bar(lines[1]),
            format!("{}{}", "█".repeat(10), " ".repeat(10))
        );
        assert_eq!(
            bar(lines[2]),
            format!("{}{}", " ".repeat(10), "█".repeat(10))
        );
        assert!(
            lines[1].ends_with("Failed (attempt 2): boom…"),
            "{}",
            lines[1]
        );
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn escape_sequences_from_users_reach_the_terminal_inert() {
        let mut t = trace(vec![step("\x1b]0;pwned\x07step", 0, Some(1_000), "Failed")]);
        t.job_name = "<b>job</b>\u{202e}txt".into();
        t.steps[0].error = Some("\x1b[2Jcleared".into());
        let text = waterfall(&t, 20, at(2_000), Paint(false));
        assert!(!text.contains('\x1b') && !text.contains('\u{7}') && !text.contains('\u{202e}'));
        assert!(text.contains(r"\u{1b}]0;pwned\u{7}step"), "{text}");
        assert!(text.contains(r"<b>job</b>\u{202e}txt"), "{text}");
        assert!(text.contains(r": \u{1b}[2Jcleared"), "{text}");
        assert_eq!(inert("plain ünïcode ✓"), "plain ünïcode ✓");
    }

    #[test]
    fn spans_stay_inside_the_axis() {
        assert_eq!(bar_span(0.0, 0.0, 0.0, 10), (0, 1));
        assert_eq!(bar_span(5.0, 5.0, 5.0, 10), (9, 10));
        assert_eq!(bar_span(-1.0, 99.0, 5.0, 10), (0, 10));
        assert_eq!(bar_span(0.0, f64::NAN, f64::NAN, 10), (0, 1));
    }

    #[test]
    fn the_runs_table_aligns_its_columns() {
        let list: RunList = serde_json::from_value(serde_json::json!({
            "runs": [
                {"run_id": "01A", "job_id": "j", "job_name": "Report", "workflow_id": "report",
                 "status": "Running", "created_at": "2027-01-15T08:00:00Z", "completed_at": null,
                 "duration_secs": null, "progress": 50.0, "current_step": "analyze"},
                {"run_id": "01B", "job_id": "j", "job_name": "Long name", "workflow_id": "a-longer-workflow",
                 "status": "Completed", "created_at": "2027-01-15T07:00:00Z", "completed_at": "2027-01-15T07:00:04Z",
                 "duration_secs": 4.0, "progress": 100.0, "current_step": null}
            ],
            "total": 7, "next_before": "01B"
        }))
        .unwrap();
        let now = "2027-01-15T08:00:30Z".parse().unwrap();
        let text = runs_table(&list, now, Paint(false));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "RUN  WORKFLOW           STATUS     DONE  DURATION  CREATED"
        );
        assert_eq!(
            lines[1],
            "01A  report             Running    50%   —         30 s ago (at analyze)"
        );
        assert_eq!(
            lines[2],
            "01B  a-longer-workflow  Completed  100%  4.00 s    1 h ago"
        );
        assert_eq!(lines[3], "2 of 7 runs; --limit shows more");
    }
}
