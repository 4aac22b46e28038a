//! The one error type of the service and its mapping to the contract's
//! `extensions.code` values. Every failure a resolver can return is an
//! `AppError`; internal errors are logged with their cause chain and reach the
//! client only as a generic `INTERNAL_SERVER_ERROR`.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, SqlErr};

/// The contract's error codes, the only values `extensions.code` takes.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const DUPLICATE_EMAIL: &str = "DUPLICATE_EMAIL";
    pub const DUPLICATE_USERNAME: &str = "DUPLICATE_USERNAME";
    pub const INVALID_CREDENTIALS: &str = "INVALID_CREDENTIALS";
    pub const ACCOUNT_DISABLED: &str = "ACCOUNT_DISABLED";
    pub const ACCOUNT_LOCKED: &str = "ACCOUNT_LOCKED";
    /// The right password of an account whose address is not verified yet,
    /// with `REQUIRE_EMAIL_VERIFICATION` on.
    pub const EMAIL_NOT_VERIFIED: &str = "EMAIL_NOT_VERIFIED";
    /// The right password of an account with a second factor on: finish
    /// with `verifyMfa` and `extensions.mfaToken`.
    pub const MFA_REQUIRED: &str = "MFA_REQUIRED";
    pub const TOKEN_EXPIRED: &str = "TOKEN_EXPIRED";
    pub const TOKEN_INVALID: &str = "TOKEN_INVALID";
    pub const CONFLICT: &str = "CONFLICT";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    /// A persisted query's hash the server does not know: send the text.
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
}

/// The `extensions.reason` of a `CONFLICT` a client handles by kind.
pub mod reason {
    /// A provider account whose address is a local account's: sign in to
    /// that account, then link the provider.
    pub const EMAIL_IN_USE: &str = "EMAIL_IN_USE";
    /// The identity provider did not answer in time, or answered with an
    /// error of its own: nothing was written; try again.
    pub const PROVIDER_UNAVAILABLE: &str = "PROVIDER_UNAVAILABLE";
    /// Passkeys are off on this server (`PASSKEYS`, `WEBAUTHN_RP_ID`).
    pub const PASSKEYS_DISABLED: &str = "PASSKEYS_DISABLED";
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("you do not have permission to do this")]
    Forbidden,
    /// `FORBIDDEN`, saying why: the caller may do this to others, not to
    /// this one (an impersonation's target), or not in this session.
    #[error("{0}")]
    ForbiddenBecause(&'static str),
    /// A credential operation attempted with an API key (`FORBIDDEN`).
    #[error("an API key cannot do this: sign in with a password")]
    ApiKeyNotAllowed,
    /// `field` names the input that referred to the missing thing, if any.
    #[error("{what} not found")]
    NotFound {
        what: &'static str,
        field: Option<&'static str>,
    },
    /// Invalid input; `field` is the input field's GraphQL name.
    #[error("{message}")]
    BadInput {
        field: &'static str,
        message: String,
    },
    #[error("this email address is already registered")]
    DuplicateEmail,
    /// `DuplicateEmail` found through an input not called `email`.
    #[error("this email address is already registered")]
    DuplicateEmailOn(&'static str),
    #[error("this username is already taken")]
    DuplicateUsername,
    #[error("invalid login or password")]
    InvalidCredentials,
    #[error("this account is disabled")]
    AccountDisabled,
    /// Too many wrong passwords. Sign-in never says so (it answers
    /// `INVALID_CREDENTIALS`, so probing learns nothing); a signed-in user's
    /// password check (a step-up) does.
    #[error("too many wrong passwords; this account is locked for a while")]
    AccountLocked,
    #[error(
        "verify your email address first: follow the link mailed to you, or ask for another with sendVerificationEmail(email: …)"
    )]
    EmailNotVerified,
    /// `mfa_token` is sent as `extensions.mfaToken`.
    #[error("a second factor is required: call verifyMfa with extensions.mfaToken and a code")]
    MfaRequired { mfa_token: String },
    /// A second factor is needed in the same request (`resetPassword`'s
    /// `code`): `MFA_REQUIRED` without a token.
    #[error(
        "this account has a second factor: send the request again with `code` (an authenticator or recovery code)"
    )]
    MfaCodeRequired,
    #[error("the token has expired")]
    TokenExpired,
    #[error("the token is invalid")]
    TokenInvalid,
    #[error("{0}")]
    Conflict(String),
    /// A `CONFLICT` a client acts on by its `extensions.reason`
    /// (`reason::EMAIL_IN_USE`, `reason::PROVIDER_UNAVAILABLE`).
    #[error("{message}")]
    ConflictBecause {
        reason: &'static str,
        message: String,
    },
    /// `retry_after` seconds is when trying again may succeed, sent as
    /// `extensions.retryAfter`.
    #[error("too many requests; try again in {retry_after} seconds")]
    RateLimited { retry_after: u64 },
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadInput {
            field,
            message: message.into(),
        }
    }

    pub fn not_found(what: &'static str) -> Self {
        Self::NotFound { what, field: None }
    }

    /// Names the input field a `NOT_FOUND`, `BAD_USER_INPUT` or
    /// `DUPLICATE_EMAIL` is about (a rule checked under another argument's
    /// name); other errors are unchanged.
    pub fn with_field(self, field: &'static str) -> Self {
        match self {
            Self::NotFound { what, .. } => Self::NotFound {
                what,
                field: Some(field),
            },
            Self::BadInput { message, .. } => Self::BadInput { field, message },
            Self::DuplicateEmail | Self::DuplicateEmailOn(_) => Self::DuplicateEmailOn(field),
            other => other,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => code::UNAUTHENTICATED,
            Self::Forbidden | Self::ForbiddenBecause(_) | Self::ApiKeyNotAllowed => code::FORBIDDEN,
            Self::NotFound { .. } => code::NOT_FOUND,
            Self::BadInput { .. } => code::BAD_USER_INPUT,
            Self::DuplicateEmail | Self::DuplicateEmailOn(_) => code::DUPLICATE_EMAIL,
            Self::DuplicateUsername => code::DUPLICATE_USERNAME,
            Self::InvalidCredentials => code::INVALID_CREDENTIALS,
            Self::AccountDisabled => code::ACCOUNT_DISABLED,
            Self::AccountLocked => code::ACCOUNT_LOCKED,
            Self::EmailNotVerified => code::EMAIL_NOT_VERIFIED,
            Self::MfaRequired { .. } | Self::MfaCodeRequired => code::MFA_REQUIRED,
            Self::TokenExpired => code::TOKEN_EXPIRED,
            Self::TokenInvalid => code::TOKEN_INVALID,
            Self::Conflict(_) | Self::ConflictBecause { .. } => code::CONFLICT,
            Self::RateLimited { .. } => code::RATE_LIMITED,
            Self::Database(_) | Self::Internal(_) => code::INTERNAL_SERVER_ERROR,
        }
    }

    /// The input field an error is about, as the contract's `extensions.field`.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::BadInput { field, .. } => Some(field),
            Self::NotFound { field, .. } => *field,
            Self::DuplicateEmail => Some("email"),
            Self::DuplicateEmailOn(field) => Some(field),
            Self::DuplicateUsername => Some("username"),
            _ => None,
        }
    }

    /// The message a client may see: internals are replaced by a generic text.
    pub fn public_message(&self) -> String {
        match self {
            Self::Database(_) | Self::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        }
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        if matches!(self, Self::Database(_) | Self::Internal(_)) {
            tracing::error!(error = ?self, "internal error");
        }
        async_graphql::Error::new(self.public_message()).extend_with(|_, ext| {
            ext.set("code", self.code());
            if let Some(field) = self.field() {
                ext.set("field", field);
            }
            if let Self::RateLimited { retry_after } = self {
                ext.set("retryAfter", *retry_after);
            }
            if let Self::MfaRequired { mfa_token } = self {
                ext.set("mfaToken", mfa_token.as_str());
            }
            if let Self::ConflictBecause { reason, .. } = self {
                ext.set("reason", *reason);
            }
        })
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        err.extend()
    }
}

/// Which unique constraint a violation hit, judged from the index name
/// (PostgreSQL) or the column list (SQLite) in the driver's message.
pub trait ResultExt<T> {
    /// Turns a unique violation into a typed error with `map`, which receives the
    /// constraint text; any other error passes through unchanged.
    fn on_constraint(self, map: impl FnOnce(&str) -> Option<AppError>) -> Result<T>;
}

impl<T> ResultExt<T> for std::result::Result<T, DbErr> {
    fn on_constraint(self, map: impl FnOnce(&str) -> Option<AppError>) -> Result<T> {
        self.map_err(|err| match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(detail)) => map(&detail).unwrap_or(err.into()),
            _ => err.into(),
        })
    }
}

/// Whether `err` is a foreign-key violation. SQLite reports `ON DELETE
/// RESTRICT` as a trigger constraint (code 1811), which SeaORM leaves
/// unclassified, so its message is checked too.
pub fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    ) || err.to_string().contains("FOREIGN KEY constraint failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(err: AppError) -> (String, serde_json::Value) {
        let err = async_graphql::Error::from(err);
        let value = serde_json::to_value(err.extensions.unwrap()).unwrap();
        (err.message, value)
    }

    #[test]
    fn every_variant_maps_to_its_contract_code() {
        let cases: Vec<(AppError, &str)> = vec![
            (AppError::Unauthenticated, "UNAUTHENTICATED"),
            (AppError::Forbidden, "FORBIDDEN"),
            (AppError::ApiKeyNotAllowed, "FORBIDDEN"),
            (AppError::ForbiddenBecause("why"), "FORBIDDEN"),
            (AppError::not_found("user"), "NOT_FOUND"),
            (AppError::bad_input("email", "bad"), "BAD_USER_INPUT"),
            (AppError::DuplicateEmail, "DUPLICATE_EMAIL"),
            (AppError::DuplicateEmailOn("newEmail"), "DUPLICATE_EMAIL"),
            (AppError::DuplicateUsername, "DUPLICATE_USERNAME"),
            (AppError::InvalidCredentials, "INVALID_CREDENTIALS"),
            (AppError::AccountDisabled, "ACCOUNT_DISABLED"),
            (AppError::EmailNotVerified, "EMAIL_NOT_VERIFIED"),
            (AppError::MfaCodeRequired, "MFA_REQUIRED"),
            (
                AppError::MfaRequired {
                    mfa_token: "t".into(),
                },
                "MFA_REQUIRED",
            ),
            (AppError::TokenExpired, "TOKEN_EXPIRED"),
            (AppError::TokenInvalid, "TOKEN_INVALID"),
            (AppError::Conflict("x".into()), "CONFLICT"),
            (
                AppError::ConflictBecause {
                    reason: reason::EMAIL_IN_USE,
                    message: "x".into(),
                },
                "CONFLICT",
            ),
            (AppError::AccountLocked, "ACCOUNT_LOCKED"),
            (AppError::RateLimited { retry_after: 3 }, "RATE_LIMITED"),
            (
                AppError::Database(DbErr::Custom("boom".into())),
                "INTERNAL_SERVER_ERROR",
            ),
            (
                AppError::Internal(anyhow::anyhow!("boom")),
                "INTERNAL_SERVER_ERROR",
            ),
        ];
        for (err, expected) in cases {
            let (_, ext) = rendered(err);
            assert_eq!(ext["code"], expected, "wrong code for {expected}");
        }
    }

    #[test]
    fn input_errors_carry_the_field() {
        let (message, ext) = rendered(AppError::bad_input("username", "too short"));
        assert_eq!(message, "too short");
        assert_eq!(ext["field"], "username");
        assert_eq!(rendered(AppError::DuplicateEmail).1["field"], "email");
        let renamed = AppError::DuplicateEmail.with_field("newEmail");
        assert_eq!(rendered(renamed).1["field"], "newEmail");
        assert_eq!(rendered(AppError::DuplicateUsername).1["field"], "username");
        let missing = AppError::not_found("role").with_field("roleIds");
        assert_eq!(rendered(missing).1["field"], "roleIds");
        let renamed = AppError::bad_input("email", "bad").with_field("newEmail");
        assert_eq!(rendered(renamed).1["field"], "newEmail");
    }

    #[test]
    fn a_conflict_with_a_reason_names_it() {
        let (_, ext) = rendered(AppError::ConflictBecause {
            reason: reason::PROVIDER_UNAVAILABLE,
            message: "down".into(),
        });
        assert_eq!(ext["reason"], "PROVIDER_UNAVAILABLE");
    }

    #[test]
    fn a_rate_limit_says_when_to_retry() {
        assert_eq!(
            rendered(AppError::RateLimited { retry_after: 42 }).1["retryAfter"],
            42
        );
    }

    #[test]
    fn a_second_factor_request_carries_its_token() {
        let err = AppError::MfaRequired {
            mfa_token: "tok".into(),
        };
        assert_eq!(rendered(err).1["mfaToken"], "tok");
    }

    #[test]
    fn internal_errors_never_reach_the_client() {
        let (message, ext) = rendered(AppError::Database(DbErr::Custom(
            "SELECT secret FROM users".into(),
        )));
        assert_eq!(message, "internal server error");
        assert!(ext.get("field").is_none());
        let (message, _) = rendered(AppError::Internal(anyhow::anyhow!(
            "argon2 hash $argon2id$"
        )));
        assert_eq!(message, "internal server error");
    }
}
