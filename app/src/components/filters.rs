use leptos::prelude::*;

use crate::wire::WorkflowStatsList;

/// A `<select name="workflow_id">` of every workflow, for GET filter forms.
#[component]
pub fn WorkflowSelect(
    workflows: Result<WorkflowStatsList, crate::wire::ApiError>,
    current: String,
    testid: &'static str,
) -> impl IntoView {
    let names: Vec<String> = workflows
        .map(|l| l.workflows.into_iter().map(|w| w.workflow_id).collect())
        .unwrap_or_default();
    view! {
        <label>
            "Workflow "
            <select name="workflow_id" data-testid=testid>
                <option value="" selected=current.is_empty()>"All workflows"</option>
                {names
                    .into_iter()
                    .map(|n| {
                        let selected = n == current;
                        view! { <option value=n.clone() selected=selected>{n.clone()}</option> }
                    })
                    .collect_view()}
            </select>
        </label>
    }
}
