//! Sign-in codes by mail: `requestSignInCode`, `signInWithCode` and
//! `signInWithLink` (service::sign_in_codes).

use async_graphql::{Context, Object};

use super::{
    request::{app, meta, shared},
    types::AuthPayload,
};
use crate::service::sign_in_codes;

#[derive(Default)]
pub struct SignInCodeMutation;

#[Object]
impl SignInCodeMutation {
    /// Mails a 6-digit code and a link that sign in, when the address
    /// belongs to a live account (or, with `PASSWORDLESS_SIGNUP` and
    /// registration open, to nobody yet: using the code then makes the
    /// account). Always answers `true`, as fast whatever the address, so it
    /// tells nobody which addresses have accounts; limited per client
    /// (`RATE_LIMIT_RECOVERY`) and per address (at most 3 such mails an
    /// hour; more silently send nothing). The code and the link work once,
    /// together, for 10 minutes. `BAD_USER_INPUT` only for a malformed
    /// address.
    async fn request_sign_in_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's address, in any case.")] email: String,
    ) -> async_graphql::Result<bool> {
        sign_in_codes::request(shared(ctx), &email, meta(ctx)?).await?;
        Ok(true)
    }

    /// Signs in with the code mailed to `email`, as `login` does
    /// (`MFA_REQUIRED` with a second factor, `ACCOUNT_DISABLED`). Every
    /// failure (no code, a wrong, used or expired one) is `BAD_USER_INPUT` on
    /// `code`; five wrong codes end the address's codes, never the account.
    /// The address counts as verified; on an account whose address was
    /// never proven, what was set up before (a password, API keys, a second
    /// factor, sessions) goes, as it may be a stranger's.
    async fn sign_in_with_code(
        &self,
        ctx: &Context<'_>,
        email: String,
        #[graphql(desc = "The 6 digits from the mail.")] code: String,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(
            sign_in_codes::with_code(app(ctx), &email, &code, meta(ctx)?)
                .await?
                .into(),
        )
    }

    /// Signs in with the `token` of the mailed link (`SIGN_IN_LINK_URL`), as
    /// `signInWithCode` does. `TOKEN_INVALID` when it is unknown, used,
    /// expired or ended by wrong codes.
    async fn sign_in_with_link(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `token` parameter of the mailed link.")] token: String,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(sign_in_codes::with_link(app(ctx), &token, meta(ctx)?)
            .await?
            .into())
    }
}
