//! The object graph of the schema: one file per object type, with
//! pagination and scalars. These files may name each other (a `User` has
//! audit events, an audit event has users); nothing else in `graphql/`
//! forms a circle.

mod api_key;
mod audit_event;
mod auth_payload;
mod identity;
mod node;
pub mod organization;
mod pagination;
mod passkey;
mod role;
mod scalars;
mod session;
mod session_event;
mod signing_key;
mod tier;
mod totp_enrollment;
mod user;
pub mod user_connection;
mod webhook;

pub use api_key::{ApiKey, CreatedApiKey};
pub use audit_event::{
    AuditEvent, AuditEventConnection, AuditEventEdge, connection as audit_connection,
};
pub use auth_payload::AuthPayload;
pub use identity::{
    ExternalIdentity, ExternalSignInIntent, ExternalSignInStart, IdentityProvider,
    IdentityProviderKind,
};
pub use node::Node;
pub use organization::{
    Membership, MembershipConnection, OrgRole, Organization, OrganizationInvitation,
};
pub use pagination::PageInfo;
pub use passkey::{Passkey, PasskeyChallenge};
pub use role::Role;
pub use scalars::DateTime;
pub use session::Session;
pub use session_event::{SessionEvent, SessionEventKind};
pub use signing_key::{SigningKey, SigningKeyState};
pub use tier::Tier;
pub use totp_enrollment::TotpEnrollment;
pub use user::{Reach, Readable, SocialLinks, User, UserStatus};
pub use user_connection::{UserConnection, UserEdge};
pub use webhook::{CreatedWebhook, Webhook, WebhookDelivery, WebhookDeliveryConnection};
