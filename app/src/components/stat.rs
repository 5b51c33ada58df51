use leptos::prelude::*;

/// A labelled figure on a card: the big number people look at first.
#[component]
pub fn Stat(
    #[prop(into)] label: String,
    #[prop(into)] value: Signal<String>,
    #[prop(optional, into)] hint: Option<String>,
    #[prop(optional, into)] testid: Option<String>,
) -> impl IntoView {
    view! {
        <div class="stat" title=hint>
            <div class="stat-value" data-testid=testid>{value}</div>
            <div class="stat-label">{label}</div>
        </div>
    }
}
