//! Clusters, their members, networks and workflows.
use domain::{AppError, Snapshot};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::server::{authorize, fail, now_ms};
#[cfg(feature = "ssr")]
use domain::Permission;

/// One page of the cluster list; the parameters are those of its URL (`/clusters?q=line`), each
/// optional.
#[server(endpoint = "list_clusters")]
pub async fn list_clusters(
    #[server(default)] q: Option<String>,
    #[server(default)] sort: Option<String>,
    #[server(default)] dir: Option<String>,
    #[server(default)] page: Option<String>,
    #[server(default)] per_page: Option<String>,
) -> Result<Snapshot<domain::list::ClusterPage>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let query = domain::list::ListQuery::from_args(
        q.as_deref(),
        sort.as_deref(),
        dir.as_deref(),
        page.as_deref(),
        per_page.as_deref(),
    )
    .map_err(fail)?;
    let data = panel.clusters.page(&actor, &query).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

#[server(endpoint = "get_cluster")]
pub async fn get_cluster(id: String) -> Result<Snapshot<domain::cluster::ClusterDetail>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.clusters.get(&actor, &id).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

/// The newest changes made to a cluster through the panel: who, what, when (never a value).
#[server(endpoint = "cluster_changes")]
pub async fn cluster_changes(
    id: String,
) -> Result<Snapshot<Vec<domain::audit::AuditEntry>>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.clusters.changes(&actor, &id).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

#[server(endpoint = "cluster_candidates")]
pub async fn cluster_candidates() -> Result<Vec<domain::cluster::Candidate>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    panel.clusters.candidates(&actor).await.map_err(fail)
}

/// Takes JSON: the wizard's draft is nested.
#[server(endpoint = "create_cluster", input = leptos::server_fn::codec::Json)]
pub async fn create_cluster(draft: domain::cluster::ClusterDraft) -> Result<String, AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel.clusters.create(&actor, draft).await.map_err(fail)
}

#[server(endpoint = "retry_cluster")]
pub async fn retry_cluster(id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel.clusters.retry(&actor, &id).await.map_err(fail)
}

#[server(endpoint = "delete_cluster")]
pub async fn delete_cluster(id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel.clusters.delete(&actor, &id).await.map_err(fail)
}

#[server(endpoint = "join_tokens")]
pub async fn join_tokens(
    id: String,
    rotate: bool,
) -> Result<domain::protocol::JoinTokens, AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel
        .clusters
        .join_tokens(&actor, &id, rotate)
        .await
        .map_err(fail)
}

/// Takes JSON: the action is tagged. Demoting needs Supervisor (checked by the use case).
#[server(endpoint = "cluster_node_action", input = leptos::server_fn::codec::Json)]
pub async fn cluster_node_action(
    id: String,
    node_id: String,
    action: domain::cluster::NodeAction,
) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .clusters
        .node_action(&actor, &id, &node_id, action)
        .await
        .map_err(fail)
}

#[server(endpoint = "create_network", input = leptos::server_fn::codec::Json)]
pub async fn create_network(
    id: String,
    draft: domain::network::NetworkDraft,
) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .clusters
        .create_network(&actor, &id, draft)
        .await
        .map_err(fail)
}

#[server(endpoint = "delete_network")]
pub async fn delete_network(id: String, name: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel
        .clusters
        .delete_network(&actor, &id, &name)
        .await
        .map_err(fail)
}

#[server(endpoint = "add_cluster_node", input = leptos::server_fn::codec::Json)]
pub async fn add_cluster_node(
    id: String,
    draft: domain::cluster::MemberDraft,
) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .clusters
        .add_node(&actor, &id, draft)
        .await
        .map_err(fail)
}

#[server(endpoint = "remove_cluster_node")]
pub async fn remove_cluster_node(id: String, node_id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Supervise).await?;
    panel
        .clusters
        .remove_node(&actor, &id, &node_id)
        .await
        .map_err(fail)
}

#[server(endpoint = "edit_cluster", input = leptos::server_fn::codec::Json)]
pub async fn edit_cluster(id: String, edit: domain::cluster::ClusterEdit) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel.clusters.edit(&actor, &id, edit).await.map_err(fail)
}

/// Pauses, resumes, retries or aborts one of a cluster's workflows.
#[server(endpoint = "act_on_workflow")]
pub async fn act_on_workflow(
    id: String,
    workflow_id: String,
    action: domain::workflow::WorkflowAction,
) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel
        .clusters
        .workflow_action(&actor, &id, &workflow_id, action)
        .await
        .map_err(fail)
}
