use std::future::Future;

use leptos::prelude::*;

use super::access::may;

use wire::ApiError;

/// The Enabled/Disabled switch of a routine or an alert rule. A click asks
/// `set` (the API call) for the other state, then bumps `refresh` so the list
/// refetches; a refusal is shown under the button.
#[component]
pub fn EnableToggle<F, Fut, T>(
    enabled: bool,
    testid: &'static str,
    set: F,
    refresh: RwSignal<u64>,
) -> impl IntoView
where
    F: Fn(bool) -> Fut + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
    T: 'static,
{
    let (error, set_error) = signal(None::<String>);
    let toggle = move |_| {
        let change = set(!enabled);
        leptos::task::spawn_local(async move {
            match change.await {
                Ok(_) => refresh.update(|v| *v += 1),
                Err(e) => set_error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        // The state is shown to everyone; only an operator may change it.
        <button class="button toggle" class:on=enabled on:click=toggle aria-pressed=if enabled { "true" } else { "false" } data-testid=testid disabled=move || !may("operator")()>
            {if enabled { "Enabled" } else { "Disabled" }}
        </button>
        {move || error.get().map(|e| view! { <div class="error small">{e}</div> })}
    }
}
