//! Invitations: `inviteUser`, `acceptInvitation` and `resendInvitation`
//! (service::invitations).

use async_graphql::{Context, ID, InputObject, Object};

use super::{
    guard::{HasPermission, viewer},
    request::{app, meta},
    types::{AuthPayload, User},
};
use crate::{
    auth::Permission,
    ids,
    service::invitations::{self, Invitation},
};

/// A person to invite. They get a mail with a link to choose a password.
#[derive(InputObject)]
pub struct InviteUserInput {
    /// Stored trimmed and lower-case; the invitation goes here.
    pub email: String,
    /// 2–20 characters of `[a-z0-9_.-]`. When absent, one is made from the
    /// address (its local part, with a number added if taken); the invitee
    /// may choose another when accepting.
    pub username: Option<String>,
    /// Display name; defaults to "firstName lastName", else the username.
    pub name: Option<String>,
    /// At most 64 characters.
    pub first_name: Option<String>,
    /// At most 64 characters.
    pub last_name: Option<String>,
    /// Defaults to the `user` role; giving roles needs `ROLES_ASSIGN` and every
    /// permission those roles hold.
    pub role_ids: Option<Vec<ID>>,
    /// Superuser only.
    pub tier_id: Option<ID>,
}

/// Invitations.
#[derive(Default)]
pub struct InvitationMutation;

#[Object]
impl InvitationMutation {
    /// Invites a person (`USERS_CREATE`): the user exists at once with
    /// `invitationPending: true` and no password, cannot sign in, and is
    /// mailed a link to `acceptInvitation` (valid `INVITATION_TTL_SECS`).
    /// `DUPLICATE_EMAIL` / `DUPLICATE_USERNAME` as for `createUser`.
    #[graphql(guard = "HasPermission(Permission::UsersCreate)")]
    async fn invite_user(
        &self,
        ctx: &Context<'_>,
        input: InviteUserInput,
    ) -> async_graphql::Result<User> {
        let viewer = viewer(ctx)?;
        let invitation = Invitation {
            email: input.email,
            username: input.username,
            name: input.name,
            first_name: input.first_name,
            last_name: input.last_name,
            role_ids: input
                .role_ids
                .map(|list| ids::decode_all(ids::ROLE, &list, "roleIds"))
                .transpose()?,
            tier_id: ids::decode_opt(ids::TIER, input.tier_id, "tierId")?,
        };
        let invited = invitations::invite_user(app(ctx), viewer, invitation).await?;
        Ok(User::new(invited, Some(viewer)))
    }

    /// Accepts an invitation with the token from its mail: sets the
    /// password (and the username, when given), verifies the address and
    /// signs in. `TOKEN_INVALID` for an unknown, used or superseded token;
    /// `TOKEN_EXPIRED` after its lifetime; password rules as for `register`;
    /// `DUPLICATE_USERNAME` when the chosen username is taken.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `token` parameter of the mailed link.")] token: String,
        #[graphql(desc = "The new password, by `register`'s rules.")] password: String,
        #[graphql(desc = "Another username than the one invited with; null keeps it.")]
        username: Option<String>,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(invitations::accept_invitation(
            app(ctx),
            &token,
            &password,
            username.as_deref(),
            meta(ctx)?,
        )
        .await?
        .into())
    }

    /// Mails a pending invitation again (`USERS_CREATE`); earlier links stop
    /// working. `CONFLICT` when the user has accepted already, is deleted or
    /// is not active; `RATE_LIMITED` past 5 an hour.
    #[graphql(guard = "HasPermission(Permission::UsersCreate)")]
    async fn resend_invitation(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let id = ids::decode(ids::USER, &id, "id")?;
        invitations::resend_invitation(app(ctx), viewer(ctx)?, id).await?;
        Ok(true)
    }
}
