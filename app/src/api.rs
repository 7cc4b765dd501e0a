//! Server functions, grouped by area. Each one is thin: authorize (session, then role — before
//! any input is looked at, so a Viewer gets 403, never 422), parse the input into domain types
//! (validation lives in `domain`), call one control-plane use case, map the error. Use cases
//! check the role again. Endpoints are fixed (`/api/<name>`) so tests and scripts can call them.
use domain::enrolment::{CreatedEnrolmentKey, EnrolmentKeyView};
use domain::node::{IdentityAction, NodeDetail, NodeView};
use domain::user::{Me, UserView};
use domain::{AppError, Snapshot};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::server::{authorize, client_addr, fail, now_ms, panel, session_token, set_cookie};
#[cfg(feature = "ssr")]
use domain::Permission;

// ---- session -------------------------------------------------------------------------------

#[server(endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<Me, AppError> {
    let panel = panel()?;
    let source = client_addr().await;
    let session = panel
        .auth
        .login(&username, &password, source)
        .await
        .map_err(fail)?;
    set_cookie(&panel.auth.cookie_for(&session));
    Ok(session.actor.me())
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    let panel = panel()?;
    if let Some(token) = session_token().await {
        panel.auth.logout(&token).await.map_err(fail)?;
    }
    set_cookie(&panel.auth.clearing_cookie());
    Ok(())
}

#[server(endpoint = "me")]
pub async fn current_user() -> Result<Me, AppError> {
    let (_, actor) = authorize(Permission::Read).await?;
    Ok(actor.me())
}

#[server(endpoint = "change_password")]
pub async fn change_password(current: String, new: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let token = session_token().await.unwrap_or_default();
    let new = domain::user::Password::parse(&new)
        .map_err(|e| fail(domain::ValidationError::new("new", e.message)))?;
    let source = client_addr().await;
    panel
        .auth
        .change_password(&actor, &token, &current, new, source)
        .await
        .map_err(fail)
}

// ---- nodes ---------------------------------------------------------------------------------

#[server(endpoint = "list_nodes")]
pub async fn list_nodes() -> Result<Snapshot<Vec<NodeView>>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.nodes.list(&actor).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

#[server(endpoint = "get_node")]
pub async fn get_node(id: String) -> Result<Snapshot<NodeDetail>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.nodes.get(&actor, &id).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

#[server(endpoint = "refresh_node")]
pub async fn refresh_node(id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Operate).await?;
    panel.nodes.refresh_facts(&actor, &id).await.map_err(fail)
}

/// Removes a node, revokes its token or allows its machine to re-enrol (Administrators).
#[server(endpoint = "node_identity")]
pub async fn node_identity(id: String, action: IdentityAction) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Administer).await?;
    panel
        .nodes
        .identity_action(&actor, &id, action)
        .await
        .map_err(fail)
}

// ---- enrolment keys ------------------------------------------------------------------------

#[server(endpoint = "list_keys")]
pub async fn list_keys() -> Result<Snapshot<Vec<EnrolmentKeyView>>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.enrolment.list_keys(&actor).await.map_err(fail)?;
    Ok(Snapshot {
        now_ms: now_ms(),
        data,
    })
}

/// `max_uses`: how many nodes the key may enrol (0 = no limit); absent means one.
#[server(endpoint = "create_key")]
pub async fn create_key(
    label: String,
    expires_in_hours: String,
    #[server(default)] max_uses: Option<String>,
) -> Result<CreatedEnrolmentKey, AppError> {
    let (panel, actor) = authorize(Permission::Administer).await?;
    let new =
        domain::enrolment::NewEnrolmentKey::parse(&label, &expires_in_hours, max_uses.as_deref())
            .map_err(fail)?;
    panel.enrolment.create_key(&actor, new).await.map_err(fail)
}

#[server(endpoint = "revoke_key")]
pub async fn revoke_key(id: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Administer).await?;
    panel.enrolment.revoke_key(&actor, &id).await.map_err(fail)
}

// ---- users ---------------------------------------------------------------------------------

#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserView>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    panel.auth.list_users(&actor).await.map_err(fail)
}

#[server(endpoint = "create_user")]
pub async fn create_user(
    username: String,
    password: String,
    role: String,
) -> Result<UserView, AppError> {
    let (panel, actor) = authorize(Permission::Administer).await?;
    let username = domain::user::Username::parse(&username).map_err(fail)?;
    let password = domain::user::Password::parse(&password).map_err(fail)?;
    let role = domain::Role::parse(&role).map_err(fail)?;
    panel
        .auth
        .create_user(&actor, username, password, role)
        .await
        .map_err(fail)
}

#[server(endpoint = "set_role")]
pub async fn set_role(id: String, role: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Administer).await?;
    let role = domain::Role::parse(&role).map_err(fail)?;
    panel.auth.set_role(&actor, &id, role).await.map_err(fail)
}

/// Disables, enables or deletes another account (Administrators).
#[server(endpoint = "user_action")]
pub async fn user_action(id: String, action: domain::user::UserAction) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Administer).await?;
    panel
        .auth
        .user_action(&actor, &id, action)
        .await
        .map_err(fail)
}

/// Sets another user's password; their sessions end (Administrators).
#[server(endpoint = "reset_password")]
pub async fn reset_password(id: String, password: String) -> Result<(), AppError> {
    let (panel, actor) = authorize(Permission::Administer).await?;
    let password = domain::user::Password::parse(&password).map_err(fail)?;
    panel
        .auth
        .reset_password(&actor, &id, password)
        .await
        .map_err(fail)
}

// ---- clusters ------------------------------------------------------------------------------

#[server(endpoint = "list_clusters")]
pub async fn list_clusters() -> Result<Snapshot<Vec<domain::cluster::ClusterSummary>>, AppError> {
    let (panel, actor) = authorize(Permission::Read).await?;
    let data = panel.clusters.list(&actor).await.map_err(fail)?;
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
