//! Approvals: steps waiting for people, voted from the page.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api;
use crate::components::access::may;
use crate::components::empty::Empty;
use crate::components::status::{RelTime, StatusBadge};
use crate::live::use_live;
use crate::pages::overview::short_id;
use wire::{ApprovalStatus, ApprovalView, Decision, Quorum, VoteRequest};

fn quorum_text(q: Quorum, needed: usize, of: usize) -> String {
    match q {
        Quorum::Unanimous => format!("all {of} (unanimous)"),
        Quorum::Majority => format!("{needed} of {of} (majority)"),
        Quorum::Count(_) => format!("{needed} of {of}"),
    }
}

#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let live = use_live();
    let refresh = RwSignal::new(0u64);
    // Votes move runs: any change to a run may concern an approval.
    let ticks = move || live.run_ticks.with(|t| t.values().sum::<u64>());
    let approvals = api::resource(
        move || (live.version.get(), ticks(), refresh.get()),
        |_| api::approvals(),
    );
    let voter = RwSignal::new(String::new());
    let drafts = Drafts::default();
    view! {
        <Title text="Approvals"/>
        <h1>"Approvals"</h1>
        <section class="card">
            <label class="voter">
                "Voting as "
                <input type="text" placeholder="your name, as listed in the approvers" data-testid="voter-name"
                    prop:value=move || voter.get() on:input=move |ev| voter.set(event_target_value(&ev))/>
            </label>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match approvals.await {
                        Ok(list) if list.approvals.is_empty() => view! {
                            <Empty title="No approvals">
                                "A step with " <code>"\"action\": {\"manual_approval\": {\"approvers\": [...], \"quorum\": \"majority\"}}"</code>
                                " pauses its run here until enough approvers vote."
                            </Empty>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="approvals">
                                {list.approvals.into_iter().map(|a| view! { <ApprovalCard a=a voter=voter drafts=drafts refresh=refresh/> }).collect_view()}
                            </div>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Each approval's comment as typed and the server's last refusal of a vote,
/// by approval id. The page keeps them rather than the cards, because the list
/// re-renders whenever any run changes, which would wipe a half-written comment
/// or an error just shown.
#[derive(Clone, Copy, Default)]
struct Drafts {
    comments: ById,
    errors: ById,
}

/// Text by approval id. A page holds a handful, so a list does (and costs the
/// WASM far less code than a map).
type ById = RwSignal<Vec<(String, String)>>;

fn read(texts: ById, id: &str) -> Option<String> {
    texts.with(|t| {
        t.iter()
            .find(|(k, _)| k == id)
            .map(|(_, text)| text.clone())
    })
}

fn write(texts: ById, id: &str, text: Option<String>) {
    texts.update(|t| {
        t.retain(|(k, _)| k != id);
        t.extend(text.map(|text| (id.to_string(), text)));
    });
}

#[component]
fn ApprovalCard(
    a: ApprovalView,
    voter: RwSignal<String>,
    drafts: Drafts,
    refresh: RwSignal<u64>,
) -> impl IntoView {
    let pending = a.status == ApprovalStatus::Pending;
    let id = a.approval_id.clone();
    let cast = {
        let id = id.clone();
        move |decision: Decision| {
            let id = id.clone();
            let comment = read(drafts.comments, &id).filter(|c| !c.trim().is_empty());
            let name = voter.get_untracked();
            let vote = VoteRequest {
                voter: (!name.trim().is_empty()).then_some(name),
                decision,
                comment,
            };
            leptos::task::spawn_local(async move {
                match api::vote(id.clone(), vote).await {
                    Ok(_) => {
                        write(drafts.errors, &id, None);
                        write(drafts.comments, &id, None);
                        refresh.update(|v| *v += 1);
                    }
                    Err(e) => write(drafts.errors, &id, Some(e.message)),
                }
            });
        }
    };
    let approve = {
        let cast = cast.clone();
        move |_| cast(Decision::Approve)
    };
    let reject = move |_| cast(Decision::Reject);
    let votes = a.votes.clone();
    view! {
        <article class="approval" data-status=a.status.as_str() data-approval=a.approval_id.clone()>
            <div class="card-head">
                <div>
                    <strong>{a.job_name.clone()}</strong>
                    {if a.reason.is_some() { " · budget spent before step " } else { " · step " }}
                    <code>{a.step_id.clone()}</code>
                    {a.reason.clone().map(|r| view! { <div class="small budget-reason" data-testid="approval-reason">{r}</div> })}
                    <div class="small muted">
                        "run " <a class="mono" href=format!("/traces/{}", a.run_id)>{short_id(&a.run_id)}</a>
                        " · asked " <RelTime at=a.created_at/>
                        " · needs " {quorum_text(a.quorum, a.needed, a.approvers.len())}
                    </div>
                </div>
                <StatusBadge status=a.status.as_str()/>
            </div>
            <ul class="approvers">
                {a.approvers.iter().map(|name| {
                    let vote = votes.iter().find(|v| &v.voter == name);
                    let (mark, class) = match vote.map(|v| v.decision) {
                        Some(Decision::Approve) => ("✓ approved", "yes"),
                        Some(Decision::Reject) => ("✗ rejected", "no"),
                        None => ("— waiting", "none"),
                    };
                    view! {
                        <li class=format!("vote {class}")>
                            <strong>{name.clone()}</strong> " " {mark}
                            {vote.and_then(|v| v.comment.clone()).map(|c| view! { <span class="muted">" “" {c} "”"</span> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
            {pending.then(|| view! {
                <div class="vote-actions">
                    <input type="text" placeholder="comment (optional)"
                        prop:value={
                            let id = id.clone();
                            move || read(drafts.comments, &id).unwrap_or_default()
                        }
                        on:input={
                            let id = id.clone();
                            move |ev| write(drafts.comments, &id, Some(event_target_value(&ev)))
                        }/>
                    <button class="button primary" on:click=approve data-testid="approve" hidden=move || !may("approver")()>"Approve"</button>
                    <button class="button" on:click=reject data-testid="reject" hidden=move || !may("approver")()>"Reject"</button>
                </div>
            })}
            {move || read(drafts.errors, &id).map(|e| view! { <p class="error small" role="alert">{e}</p> })}
        </article>
    }
}
