use leptos::prelude::*;

/// What a panel shows when it has nothing yet: say so, and say what to do.
#[component]
pub fn Empty(#[prop(into)] title: String, children: Children) -> impl IntoView {
    view! {
        <div class="empty">
            <div class="empty-title">{title}</div>
            <div class="empty-body">{children()}</div>
        </div>
    }
}
