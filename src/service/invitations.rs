//! Invitations: an administrator invites someone by address (the account
//! is made with no password and `invitationPending`, and mailed a link),
//! resends it, and the invitee accepts by choosing a password.

use entity::user;
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

use super::{
    AppContext, RequestMeta, access, account_mail,
    audit::{Action, Event, Target},
    credentials, limits,
    links::{self, Purpose},
    new_account::{self, FirstRoles},
    now, outbox, users,
};
use crate::{
    auth::{Permission, Viewer},
    error::{AppError, Result},
    mail::Template,
    validation,
};

/// `inviteUser`'s input, as the service sees it.
#[derive(Debug, Default, Clone)]
pub struct Invitation {
    pub email: String,
    /// Made from the address when absent.
    pub username: Option<String>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `None` gives the default role.
    pub role_ids: Option<Vec<Uuid>>,
    pub tier_id: Option<Uuid>,
}

/// `inviteUser`: creates the user with no password and `invitationPending`,
/// and mails the invitation, in one transaction. Needs `USERS_CREATE`, and
/// as `createUser` does, `ROLES_ASSIGN` for `roleIds` and a superuser for a tier.
#[tracing::instrument(name = "invitations.invite_user", skip_all, fields(by = %crate::ids::user(viewer.id())))]
pub async fn invite_user(
    ctx: &AppContext,
    viewer: &Viewer,
    input: Invitation,
) -> Result<user::Model> {
    viewer.require(Permission::UsersCreate)?;
    if input.role_ids.is_some() {
        viewer.require(Permission::RolesAssign)?;
    }
    if input.tier_id.is_some() {
        viewer.require_superuser()?;
    }
    let email = validation::email(&input.email)?;
    let chosen = input
        .username
        .as_deref()
        .map(validation::username)
        .transpose()?;
    let profile = users::ProfilePatch {
        name: input.name.map(Some),
        first_name: input.first_name.map(Some),
        last_name: input.last_name.map(Some),
        ..Default::default()
    };
    users::with_username(&ctx.db, chosen.as_deref(), &email, |username| {
        // The password column holds no hash: no password matches it.
        let mut model = users::new_row(username, email.clone(), String::new(), now());
        let applied = users::apply_profile(&mut model, &profile);
        model.invitation_pending = Set(true);
        model.tier_id = Set(input.tier_id);
        let role_ids = input.role_ids.as_deref();
        async move {
            applied?;
            create_invited(ctx, viewer, model, role_ids).await
        }
    })
    .await
}

async fn create_invited(
    ctx: &AppContext,
    viewer: &Viewer,
    model: user::ActiveModel,
    role_ids: Option<&[Uuid]>,
) -> Result<user::Model> {
    let txn = ctx.begin().await?;
    let roles = match role_ids {
        None => FirstRoles::Default,
        Some(ids) => FirstRoles::Given(viewer, ids),
    };
    let created = new_account::insert_account(&txn, model, roles).await?;
    Event::by(viewer, Action::UserInvited)
        .on(Target::User(created.id))
        .with(super::audit::user_created(&created))
        .record(&txn)
        .await?;
    account_mail::require_budget(&txn, ctx, &created.email, Template::Invitation).await?;
    account_mail::mail_link(&txn, ctx, Template::Invitation, &created, &created.email).await?;
    txn.commit().await?;
    outbox::wake(ctx);
    tracing::info!(user_id = %crate::ids::user(created.id), "user invited");
    Ok(created)
}

/// `acceptInvitation`: sets the password (and the username, when given),
/// verifies the address and signs the user in.
#[tracing::instrument(name = "invitations.accept_invitation", skip_all)]
pub async fn accept_invitation(
    ctx: &AppContext,
    token: &str,
    password: &str,
    username: Option<&str>,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    limits::hit(ctx, limits::Limited::Recovery, meta).await?;
    let row = links::find(&ctx.db, Purpose::Mail(Template::Invitation), token).await?;
    let invited = users::find(&ctx.db, row.user_id)
        .await?
        .filter(|u| u.invitation_pending)
        .ok_or(AppError::TokenInvalid)?;
    let username = username.map(validation::username).transpose()?;
    credentials::judge_new_password(
        ctx,
        password,
        "password",
        username.as_deref().unwrap_or(&invited.username),
        &invited.email,
    )
    .await?;
    let hash = ctx.hasher.hash(password.to_owned()).await?;
    let txn = ctx.begin().await?;
    if username.is_some() {
        super::memberships::lock_organizations_of(&txn, [row.user_id]).await?;
    }
    let user = users::lock(&txn, row.user_id)
        .await?
        .filter(|u| u.invitation_pending)
        .ok_or(AppError::TokenInvalid)?;
    links::consume(&txn, &row, &user).await?;
    if user.status != user::Status::Active {
        return Err(AppError::AccountDisabled);
    }
    let ts = now();
    let mut model = users::changes(&user);
    if let Some(username) = username {
        model.username = Set(username);
    }
    model.password_hash = Set(hash);
    model.has_password = Set(true);
    model.password_changed_at = Set(ts);
    model.invitation_pending = Set(false);
    model.email_verified_at = Set(Some(ts));
    model.last_login_at = Set(Some(ts));
    let before = user.clone();
    let user = users::save_locked(&txn, user, model).await?;
    Event::anonymous(meta, Action::UserInvitationAccepted)
        .as_user(user.id)
        .with(super::audit::user_changes(&before, &user))
        .record(&txn)
        .await?;
    let tokens = access::start(&txn, ctx, user, meta).await?;
    txn.commit().await?;
    tracing::info!(user_id = %crate::ids::user(tokens.user.id), "invitation accepted");
    Ok(tokens)
}

/// `resendInvitation` (`USERS_CREATE`): a new link; the earlier ones stop working.
#[tracing::instrument(name = "invitations.resend_invitation", skip_all, fields(by = %crate::ids::user(viewer.id())))]
pub async fn resend_invitation(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    viewer.require(Permission::UsersCreate)?;
    let txn = ctx.begin().await?;
    let user = users::lock_mail_target(&txn, viewer, id).await?;
    if !user.invitation_pending {
        return Err(AppError::Conflict(
            "the user has no pending invitation".into(),
        ));
    }
    account_mail::require_budget(&txn, ctx, &user.email, Template::Invitation).await?;
    links::supersede(&txn, user.id, &[Purpose::Mail(Template::Invitation)]).await?;
    account_mail::mail_link(&txn, ctx, Template::Invitation, &user, &user.email).await?;
    Event::by(viewer, Action::UserInvitationResent)
        .on(Target::User(user.id))
        .record(&txn)
        .await?;
    txn.commit().await?;
    outbox::wake(ctx);
    Ok(())
}
