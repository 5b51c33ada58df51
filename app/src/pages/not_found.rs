use leptos::prelude::*;
use leptos_meta::Title;

/// Unknown dashboard routes: a real 404 status, and a way back.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <h1>"Page not found"</h1>
        <p>"There is no page at this address. " <a href="/">"Back to the overview"</a></p>
    }
}
