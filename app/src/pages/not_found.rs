use leptos::prelude::*;
use leptos_meta::Title;

/// Answers the page being rendered on the server with a 404: a page about
/// something that does not exist says so in its status too, for tools and
/// crawlers. Does nothing in the browser.
pub fn answer_not_found() {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
}

/// Unknown dashboard routes: a real 404 status, and a way back.
#[component]
pub fn NotFound() -> impl IntoView {
    answer_not_found();
    view! {
        <Title text="Not found"/>
        <h1>"Page not found"</h1>
        <p>"There is no page at this address. " <a href="/">"Back to the overview"</a></p>
    }
}
