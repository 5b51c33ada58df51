use leptos::prelude::*;

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
