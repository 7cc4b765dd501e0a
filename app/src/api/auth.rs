//! Session, account and user management.
use domain::AppError;
use domain::user::{Me, UserView};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::server::{authorize, client_addr, fail, panel, session_token, set_cookie};
#[cfg(feature = "ssr")]
use domain::Permission;

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
