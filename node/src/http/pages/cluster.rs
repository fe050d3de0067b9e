//! The cluster page: nodes, raft roles, the shard map, checks per second;
//! removing a node. It shows the instance's infrastructure, so only its
//! operators (owners and admins of the first organization) see it.

use actix_web::{web, HttpResponse};
use openseer_web as views;

use super::{frame, html, redirect};
use crate::http::errors::PageError;
use crate::http::identity::{CsrfForm, CsrfOnly, SignedIn};
use crate::http::AppState;

pub async fn cluster_page(
    s: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    s.require_operator()?;
    let csrf = s.csrf();
    let vm = match &state.cluster {
        None => None,
        Some(c) => {
            let mine = c.view();
            let map = c.state.borrow().shards.clone();
            let mut nodes = Vec::new();
            for (n, view) in c.survey().await {
                nodes.push(views::ClusterNodeVm {
                    id: n.id,
                    http: n.http.clone(),
                    reachable: view.is_some(),
                    role: view.as_ref().map(|v| v.role.clone()).unwrap_or_default(),
                    term: view.as_ref().map_or(0, |v| v.term),
                    leader: view.as_ref().and_then(|v| v.leader),
                    shards: n.shards,
                    checks_per_second: view.as_ref().map(|v| v.checks_per_second),
                    fenced: view.as_ref().is_some_and(|v| v.fenced),
                    leaving: n.leaving,
                    voter: n.voter,
                    this_node: n.id == mine.me,
                });
            }
            Some(views::ClusterVm {
                leader: mine.leader,
                term: mine.term,
                nodes,
                shard_map: (0..openseer_core::schedule::SHARDS)
                    .map(|i| map.owner_of(i))
                    .collect(),
            })
        }
    };
    Ok(html(views::cluster_page(
        &frame(&s, "Cluster", &csrf, None),
        vm.as_ref(),
    )))
}

pub async fn cluster_leave(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<u64>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require_operator()?;
    let Some(c) = &state.cluster else {
        return Err(PageError::NotFound);
    };
    let id = id.into_inner();
    if !c.view().nodes.iter().any(|n| n.id == id) {
        return Err(PageError::NotFound);
    }
    if let Err(e) = c
        .leave(openseer_cluster::LeaveRequest { node_id: id })
        .await
    {
        tracing::warn!(node_id = id, error = %e, "removing a node from the dashboard");
        return Err(PageError::Internal);
    }
    tracing::info!(
        node_id = id,
        user_id = s.user.id,
        "node removed from the cluster"
    );
    state
        .audit(s.audit("cluster.node_removed").on("node", id))
        .await;
    Ok(redirect("/cluster"))
}
