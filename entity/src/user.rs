//! The `users` table: profile, credentials, lifecycle and lockout state.

use sea_orm::entity::prelude::*;

/// Account status as stored; `Active` is the only status that may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Status {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "inactive")]
    Inactive,
    #[sea_orm(string_value = "suspended")]
    Suspended,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Always stored lower-case, so the unique index is case-insensitive.
    #[sea_orm(unique)]
    pub username: String,
    /// Always stored trimmed and lower-case, so the unique index is case-insensitive.
    #[sea_orm(unique)]
    pub email: String,
    pub password_hash: String,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar_url: Option<String>,
    pub website: Option<String>,
    pub facebook: Option<String>,
    pub instagram: Option<String>,
    pub linkedin: Option<String>,
    pub x: Option<String>,
    pub youtube: Option<String>,
    pub status: Status,
    pub is_superuser: bool,
    pub tier_id: Option<Uuid>,
    pub failed_login_count: i32,
    pub locked_until: Option<DateTimeUtc>,
    pub password_changed_at: DateTimeUtc,
    pub last_login_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Lower-cased effective display name, for ordering by name.
    pub name_key: String,
    /// Lower-cased username, email and names, for `search`.
    pub search_text: String,
    /// When the user proved they receive mail at `email`; null until then
    /// and again after an administrator changes the address.
    pub email_verified_at: Option<DateTimeUtc>,
    /// Invited and not yet accepted: no password, cannot sign in.
    pub invitation_pending: bool,
    /// A confirmed second factor (TOTP) guards sign-in.
    pub mfa_enabled: bool,
    /// The user's own JSON object (at most 8 KiB), written through `updateMe`.
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    /// Administrators' JSON object about the user (at most 8 KiB).
    #[sea_orm(column_type = "JsonBinary")]
    pub app_metadata: Json,
    /// Lower-cased first name, empty when unset, for ordering.
    pub first_name_key: String,
    /// Lower-cased last name, empty when unset, for ordering.
    pub last_name_key: String,
    /// False for a user made through another provider or a mailed code
    /// until they set one: `password_hash` is then empty, which no password
    /// matches.
    pub has_password: bool,
    /// The language the user reads mail in (a BCP 47 tag); null for the
    /// default.
    pub locale: Option<String>,
    /// The user's id in the system they were imported from (unique); null
    /// for users made here.
    #[sea_orm(unique)]
    pub external_id: Option<String>,
    /// When the person's data was erased (the row stays, emptied, so audit
    /// events still join); null otherwise.
    pub erased_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tier::Entity",
        from = "Column::TierId",
        to = "super::tier::Column::Id"
    )]
    Tier,
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
    #[sea_orm(has_many = "super::user_role::Entity")]
    UserRole,
    #[sea_orm(has_many = "super::api_key::Entity")]
    ApiKey,
}

impl Related<super::tier::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tier.def()
    }
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl Related<super::role::Entity> for Entity {
    fn to() -> RelationDef {
        super::user_role::Relation::Role.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::user_role::Relation::User.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::from_position!(
    id,
    username,
    email,
    password_hash,
    display_name,
    first_name,
    last_name,
    avatar_url,
    website,
    facebook,
    instagram,
    linkedin,
    x,
    youtube,
    status,
    is_superuser,
    tier_id,
    failed_login_count,
    locked_until,
    password_changed_at,
    last_login_at,
    deleted_at,
    created_at,
    updated_at,
    name_key,
    search_text,
    email_verified_at,
    invitation_pending,
    mfa_enabled,
    metadata,
    app_metadata,
    first_name_key,
    last_name_key,
    has_password,
    locale,
    external_id,
    erased_at,
);

impl Model {
    /// A user with every field empty, false, zero or the epoch: the base that a
    /// read of only some columns fills in. Never stored.
    pub fn blank() -> Self {
        let epoch = DateTimeUtc::UNIX_EPOCH;
        Self {
            id: Uuid::nil(),
            username: String::new(),
            email: String::new(),
            password_hash: String::new(),
            display_name: None,
            first_name: None,
            last_name: None,
            avatar_url: None,
            website: None,
            facebook: None,
            instagram: None,
            linkedin: None,
            x: None,
            youtube: None,
            status: Status::Inactive,
            is_superuser: false,
            tier_id: None,
            failed_login_count: 0,
            locked_until: None,
            password_changed_at: epoch,
            last_login_at: None,
            deleted_at: None,
            created_at: epoch,
            updated_at: epoch,
            name_key: String::new(),
            search_text: String::new(),
            email_verified_at: None,
            invitation_pending: false,
            mfa_enabled: false,
            metadata: Json::Object(Default::default()),
            app_metadata: Json::Object(Default::default()),
            first_name_key: String::new(),
            last_name_key: String::new(),
            has_password: true,
            locale: None,
            external_id: None,
            erased_at: None,
        }
    }

    /// Soft-deleted users keep their row (and their reserved username and email).
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}
