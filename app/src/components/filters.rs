use leptos::prelude::*;

use crate::api::Window;
use wire::WorkflowStatsList;

/// Workflow ids for a dropdown: sorted, so that options keep their places
/// as workflows appear.
fn workflow_ids(workflows: Result<WorkflowStatsList, wire::ApiError>) -> Vec<String> {
    let mut ids: Vec<String> = workflows
        .map(|l| l.workflows.into_iter().map(|w| w.workflow_id).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A `<select name="workflow_id">` of every workflow, for GET filter forms.
///
/// In the browser the choices follow the live link: a workflow that first
/// runs after the page loaded (or while the link was down) is added when
/// runs change, without re-rendering the form, so a choice the user has
/// made but not yet submitted stays.
#[component]
pub fn WorkflowSelect(
    workflows: Result<WorkflowStatsList, wire::ApiError>,
    current: String,
    testid: &'static str,
) -> impl IntoView {
    let names = RwSignal::new(workflow_ids(workflows));
    let chosen = current.clone();
    #[cfg(feature = "hydrate")]
    {
        let live = crate::live::use_live();
        // Not at hydration: the page came with the list.
        Effect::watch(
            move || live.version.get(),
            move |_, _, _| {
                leptos::task::spawn_local(async move {
                    if let Ok(list) = crate::api::workflows().await {
                        let fresh = workflow_ids(Ok(list));
                        if names.try_with_untracked(|n| *n != fresh) == Some(true) {
                            names.try_set(fresh);
                        }
                    }
                });
            },
            false,
        );
    }
    view! {
        <label>
            "Workflow "
            <select name="workflow_id" data-testid=testid>
                <option value="" selected=current.is_empty()>"All workflows"</option>
                <For
                    each=move || names.get()
                    key=|n| n.clone()
                    children=move |n| {
                        let selected = n == chosen;
                        let label = n.clone();
                        view! { <option value=n selected=selected>{label}</option> }
                    }
                />
            </select>
        </label>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::WorkflowStats;

    #[test]
    fn choices_are_sorted_and_unique() {
        let stats = |id: &str| WorkflowStats {
            workflow_id: id.into(),
            ..WorkflowStats::default()
        };
        let list = WorkflowStatsList {
            workflows: vec![stats("zeta"), stats("alpha"), stats("zeta")],
        };
        assert_eq!(workflow_ids(Ok(list)), ["alpha", "zeta"]);
        assert!(workflow_ids(Err(wire::ApiError::new("x", "y"))).is_empty());
    }
}

/// The ranges the picker offers, as `since` values (empty: all time).
pub const RANGES: [(&str, &str); 6] = [
    ("15m", "15 min"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("", "All time"),
];

/// The period just before `since` (a span back from now) of the same
/// length, as `(since, until)`: `1h` → (`2h`, `1h`).
pub fn previous_period(since: &str) -> Option<(String, String)> {
    let secs = wire::format::span_secs(since)?;
    Some((format!("{}s", secs.checked_mul(2)?), format!("{secs}s")))
}

/// The page's `?since=&until=`, blanks as absent.
pub fn use_window() -> Signal<Window> {
    let query = leptos_router::hooks::use_query_map();
    Signal::derive(move || {
        let q = query.read();
        let get = |k: &str| q.get(k).filter(|v| !v.trim().is_empty());
        Window::new(get("since"), get("until"))
    })
}

/// The window just before `window`, of the same length, for "+12 % on the
/// previous hour": only for spans back from now (`since=1h`, no `until`).
fn previous_window(window: &Window) -> Option<Window> {
    let since = window.since.as_deref().filter(|_| window.until.is_none())?;
    let (from, to) = previous_period(since)?;
    Some(Window::new(Some(from), Some(to)))
}

/// The same query over the period before `window`, of the same length;
/// `None` when the window has no previous period (all time, a fixed range).
pub async fn on_previous<T, Fut>(
    window: &Window,
    fetch: impl FnOnce(Window) -> Fut,
) -> Result<Option<T>, wire::ApiError>
where
    Fut: std::future::Future<Output = Result<T, wire::ApiError>>,
{
    match previous_window(window) {
        Some(before) => fetch(before).await.map(Some),
        None => Ok(None),
    }
}

/// How the picker names a range (`1h` → "hour"), for "on the previous hour".
fn range_noun(since: &str) -> String {
    match since {
        "15m" => "15 minutes".into(),
        "1h" => "hour".into(),
        "24h" => "24 hours".into(),
        "7d" => "7 days".into(),
        "30d" => "30 days".into(),
        other => other.into(),
    }
}

/// The change from `before` to `now` in percent, when both are known and
/// `before` is not zero.
pub fn change(now: Option<f64>, before: Option<f64>) -> Option<f64> {
    let (now, before) = (now?, before?);
    (before > 0.0).then(|| (now - before) / before * 100.0)
}

/// "+12 %" beside a duration: red when it grew, green when it fell;
/// `period` (a `since` value) names the previous period in words.
#[component]
pub fn Delta(
    now: Option<f64>,
    before: Option<f64>,
    #[prop(default = None)] period: Option<String>,
) -> impl IntoView {
    change(now, before).map(|c| {
        let (worse, better) = (c > 0.5, c < -0.5);
        let words = period.map(|p| format!(" on the previous {}", range_noun(&p)));
        view! {
            <span class="delta" class:worse=worse class:better=better data-testid="delta" title="on the previous period of the same length">
                {format!("{}{:.0} %", if c >= 0.0 { "+" } else { "−" }, c.abs())}
                {words}
            </span>
        }
    })
}

/// Links that set `?since=` on `path`, keeping the other parameters of
/// the page (`keep`): plain links, so they work without JavaScript and the
/// range stays in the URL.
#[component]
pub fn RangePicker(
    #[prop(into)] path: String,
    current: String,
    keep: Vec<(String, String)>,
    /// No "All time" (a page that always shows a range).
    #[prop(optional)]
    bounded: bool,
) -> impl IntoView {
    view! {
        <nav class="range-picker" aria-label="Time range" data-testid="range-picker">
            {RANGES.into_iter().filter(|(since, _)| !(bounded && since.is_empty())).map(|(since, label)| {
                let mut pairs: Vec<(String, String)> = keep.iter().filter(|(k, _)| k != "since").cloned().collect();
                if !since.is_empty() {
                    pairs.push(("since".into(), since.into()));
                }
                let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
                let href = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
                let chosen = current == since;
                view! {
                    <a href=href class="range" class:chosen=chosen aria-current=chosen.then_some("page") data-since=since>{label}</a>
                }
            }).collect_view()}
        </nav>
    }
}

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn the_previous_period_has_the_same_length() {
        assert_eq!(
            previous_period("1h"),
            Some(("7200s".into(), "3600s".into()))
        );
        assert_eq!(previous_period("all"), None);
        // A span too long to count: no previous period, and no overflow.
        assert_eq!(previous_period("99999999999999999d"), None);
        assert_eq!(
            previous_period("4611686018427387904s"),
            None,
            "twice overflows"
        );
    }

    #[test]
    fn a_previous_window_only_for_spans_back_from_now() {
        let w = |s: Option<&str>, u: Option<&str>| {
            Window::new(s.map(String::from), u.map(String::from))
        };
        assert_eq!(
            previous_window(&w(Some("15m"), None)),
            Some(w(Some("1800s"), Some("900s")))
        );
        assert_eq!(previous_window(&w(Some("1h"), Some("10m"))), None);
        assert_eq!(
            previous_window(&w(Some("2026-12-01T00:00:00Z"), None)),
            None
        );
        assert_eq!(previous_window(&w(None, None)), None);
    }

    #[test]
    fn changes_need_both_figures_and_a_nonzero_base() {
        assert_eq!(change(Some(5.8), Some(5.0)).map(|c| c.round()), Some(16.0));
        assert_eq!(change(Some(1.0), Some(0.0)), None);
        assert_eq!(change(None, Some(1.0)), None);
    }
}
