//! Roles: `roles`, `role`, and the superuser's `createRole`, `updateRole`,
//! `deleteRole`, plus `setUserRoles` for holders of `ROLES_ASSIGN`.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use super::guard::{Authenticated, HasPermission, Superuser, viewer};
use super::{
    cost,
    inputs::{name_patch, patch},
    request::app,
    types::{Role, User},
};
use crate::{auth::Permission, ids, service::roles};

/// A new custom role.
#[derive(InputObject)]
pub struct CreateRoleInput {
    /// Unique; 2–64 characters of `[a-z0-9_.-]`, stored lower-case.
    pub name: String,
    /// At most 255 characters.
    pub description: Option<String>,
    /// What holders of the role may do; empty by default.
    #[graphql(default)]
    pub permissions: Vec<Permission>,
}

/// Changes to a role. Absent fields are kept; a null description clears it.
/// Built-in roles cannot be renamed and keep their permissions.
#[derive(InputObject)]
pub struct UpdateRoleInput {
    /// A new name (not for built-in roles).
    pub name: Option<String>,
    /// At most 255 characters; null clears.
    pub description: MaybeUndefined<String>,
    /// Replaces the role's permissions.
    pub permissions: Option<Vec<Permission>>,
}

#[derive(Default)]
pub struct RoleQuery;

#[Object]
impl RoleQuery {
    /// Every role, ordered by name. Any signed-in user.
    #[graphql(guard = "Authenticated", complexity = "cost::list(child_complexity)")]
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Role>> {
        Ok(roles::list(&app(ctx).db)
            .await?
            .into_iter()
            .map(Role::from)
            .collect())
    }

    /// A role by id; null when there is none. Any signed-in user.
    #[graphql(guard = "Authenticated", complexity = "cost::lookup(child_complexity)")]
    async fn role(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Role>> {
        let key = ids::decode(ids::ROLE, &id, "id")?;
        Ok(roles::get(&app(ctx).db, key).await?.map(Role::from))
    }

    /// A role by name, case-insensitively (names are stored lower-case);
    /// null when there is none. Any signed-in user.
    #[graphql(guard = "Authenticated", complexity = "cost::lookup(child_complexity)")]
    async fn role_by_name(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<Option<Role>> {
        Ok(roles::by_name(&app(ctx).db, &name).await?.map(Role::from))
    }
}

#[derive(Default)]
pub struct RoleMutation;

#[Object]
impl RoleMutation {
    /// Creates a custom role. Superuser only; `CONFLICT` when the name is taken.
    #[graphql(guard = "Superuser")]
    async fn create_role(
        &self,
        ctx: &Context<'_>,
        input: CreateRoleInput,
    ) -> async_graphql::Result<Role> {
        let role = roles::create(
            app(ctx),
            viewer(ctx)?,
            &input.name,
            input.description.as_deref(),
            &input.permissions,
        )
        .await?;
        Ok(role.into())
    }

    /// Changes a role. Superuser only.
    #[graphql(guard = "Superuser")]
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateRoleInput,
    ) -> async_graphql::Result<Role> {
        let key = ids::decode(ids::ROLE, &id, "id")?;
        let description = patch(input.description);
        let role = roles::update(
            app(ctx),
            viewer(ctx)?,
            key,
            name_patch(input.name.as_deref(), &description),
            input.permissions.as_deref(),
        )
        .await?;
        Ok(role.into())
    }

    /// Deletes a custom role and removes it from its users, in one transaction.
    /// Superuser only; built-in roles are `CONFLICT`.
    #[graphql(guard = "Superuser")]
    async fn delete_role(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let key = ids::decode(ids::ROLE, &id, "id")?;
        roles::delete(app(ctx), viewer(ctx)?, key).await?;
        Ok(true)
    }

    /// Replaces a user's roles, all or nothing. Needs `ROLES_ASSIGN`, and the
    /// caller must hold every permission of each role it adds or removes; a
    /// superuser's roles are changed by superusers only. An unknown role id is
    /// `NOT_FOUND` on `roleIds`. Without `USERS_READ`, the answer shows only
    /// the user's `id`, `roles`, `isStaff` and `updatedAt` (any other field
    /// is `FORBIDDEN`).
    #[graphql(guard = "HasPermission(Permission::RolesAssign)")]
    async fn set_user_roles(
        &self,
        ctx: &Context<'_>,
        id: ID,
        role_ids: Vec<ID>,
    ) -> async_graphql::Result<User> {
        let user_key = ids::decode(ids::USER, &id, "id")?;
        let role_keys = ids::decode_all(ids::ROLE, &role_ids, "roleIds")?;
        let viewer = viewer(ctx)?;
        let (user, roles) = roles::set_user_roles(app(ctx), viewer, user_key, &role_keys).await?;
        // Only superusers change a superuser (and read everyone), so
        // `isStaff` follows from the roles alone here.
        Ok(User::changed(user, viewer, vec!["roles", "isStaff", "updatedAt"]).with_roles(roles))
    }
}
