//! The library use cases: list apps and models with their versions, add them, add versions and
//! remove apps no cluster runs.
use domain::Permission;
use domain::ValidationError;
use domain::event::UiEvent;
use domain::workload::compose;
use domain::workload::library::{
    AppDraft, AppView, MAX_VERSIONS, ServiceSummary, VersionDraft, VersionView,
};

use super::Workloads;
use crate::ControlError;
use crate::auth::Actor;
use crate::secret::now_ms;
use crate::store::{AppRow, VersionRow};

impl Workloads {
    /// Every app and model with its versions, newest version first.
    pub async fn library(&self, actor: &Actor) -> Result<Vec<AppView>, ControlError> {
        actor.require(Permission::Read)?;
        let apps = self.store.list_apps().await?;
        let versions = self.store.list_versions().await?;
        apps.into_iter()
            .map(|a| {
                let mine = versions
                    .iter()
                    .filter(|v| v.app_id == a.id)
                    .map(version_view)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(AppView {
                    id: a.id,
                    name: a.name,
                    kind: a.kind,
                    model_format: a.model_format,
                    description: a.description,
                    created_at_ms: a.created_at,
                    versions: mine,
                })
            })
            .collect()
    }

    pub async fn create_app(&self, actor: &Actor, draft: AppDraft) -> Result<String, ControlError> {
        actor.require(Permission::Operate)?;
        let new = draft.validate().map_err(ControlError::Invalid)?;
        let row = AppRow {
            id: uuid::Uuid::new_v4().to_string(),
            name: new.name,
            kind: new.kind,
            model_format: new.model_format,
            description: new.description,
            created_by: actor.username.clone(),
            created_at: now_ms(),
        };
        if !self.store.insert_app(&row).await? {
            return Err(ControlError::Validation(ValidationError::new(
                "name",
                format!("The library has an app named {} already.", row.name),
            )));
        }
        self.changed(
            actor,
            "app.create",
            &row.id,
            Some(&row.name),
            UiEvent::Library,
        )
        .await?;
        Ok(row.id)
    }

    pub async fn add_version(
        &self,
        actor: &Actor,
        app_id: &str,
        draft: VersionDraft,
    ) -> Result<String, ControlError> {
        actor.require(Permission::Operate)?;
        let app = self
            .store
            .app_by_id(app_id)
            .await?
            .ok_or(ControlError::NotFound("App"))?;
        let (version, _) = draft.validate().map_err(ControlError::Invalid)?;
        if self.store.count_versions(app_id).await? >= MAX_VERSIONS as i64 {
            return Err(ControlError::Conflict(format!(
                "{} has {MAX_VERSIONS} versions, the most it may keep.",
                app.name
            )));
        }
        let row = VersionRow {
            id: uuid::Uuid::new_v4().to_string(),
            app_id: app.id.clone(),
            version,
            compose: draft.compose,
            created_by: actor.username.clone(),
            created_at: now_ms(),
        };
        if !self.store.insert_version(&row).await? {
            return Err(ControlError::Validation(ValidationError::new(
                "version",
                format!("{} has a version {} already.", app.name, row.version),
            )));
        }
        let detail = format!("{} {}", app.name, row.version);
        self.changed(
            actor,
            "app.version",
            &row.id,
            Some(&detail),
            UiEvent::Library,
        )
        .await?;
        Ok(row.id)
    }

    /// The compose file of one version (to read it, or start a new version from it).
    pub async fn version_compose(&self, actor: &Actor, id: &str) -> Result<String, ControlError> {
        actor.require(Permission::Read)?;
        Ok(self
            .store
            .version_by_id(id)
            .await?
            .ok_or(ControlError::NotFound("Version"))?
            .compose)
    }

    /// Removes an app and its versions (Supervisors).
    pub async fn delete_app(&self, actor: &Actor, id: &str) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        let app = self
            .store
            .app_by_id(id)
            .await?
            .ok_or(ControlError::NotFound("App"))?;
        let installed = self.store.count_workloads_of_app(id).await?;
        if installed > 0 {
            return Err(ControlError::Conflict(format!(
                "{} is installed on {installed} cluster(s): uninstall it there first.",
                app.name
            )));
        }
        if !self.store.delete_app(id).await? {
            return Err(ControlError::NotFound("App"));
        }
        self.changed(actor, "app.delete", id, Some(&app.name), UiEvent::Library)
            .await
    }
}

/// A stored version as the library lists it; a stored file that no longer parses is `Corrupt`.
fn version_view(v: &VersionRow) -> Result<VersionView, ControlError> {
    let parsed = compose::parse(&v.compose)
        .map_err(|e| ControlError::Corrupt(format!("compose file of version {}: {e}", v.id)))?;
    Ok(VersionView {
        id: v.id.clone(),
        version: v.version.clone(),
        created_at_ms: v.created_at,
        created_by: v.created_by.clone(),
        services: ServiceSummary::of(&parsed),
    })
}
