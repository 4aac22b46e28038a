/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
/** Credentials for `login`. */
export type LoginInput = {
  /** The username or the email address. */
  login: string;
  /** The account's password. */
  password: string;
};

/** A condition on one top-level key of `appMetadata`. */
export type MetadataMatch = {
  /**
   * The value the key must hold, compared as JSON; required. A user
   * without the key does not match, and `null` matches a key holding
   * null. PostgreSQL compares numbers by value (`1` equals `1.0`); SQLite
   * compares them as written.
   */
  equals?: unknown;
  /** The top-level key. */
  key: string;
};

/** What a role lets its holders do. Superusers hold every permission. */
export type Permission =
  /** Read the audit trail (`auditEvents`, `User.auditEvents`). */
  | 'AUDIT_READ'
  /**
   * Create organisations (`createOrganization`) when `ORG_SELF_SERVICE`
   * does not let every signed-in user.
   */
  | 'ORGS_CREATE'
  /**
   * Read every organisation (`organizations`, `organization`) and its
   * members, as a member holding `MEMBERS_READ` would (invitations need
   * `MEMBERS_INVITE` there).
   */
  | 'ORGS_READ'
  /** Change which roles users hold. */
  | 'ROLES_ASSIGN'
  /** Create users through `createUser`. */
  | 'USERS_CREATE'
  /** Soft-delete and restore users. */
  | 'USERS_DELETE'
  /**
   * Act as another user (`impersonateUser`), for support: never a
   * superuser, nor anyone holding a permission the actor lacks. In no
   * built-in role.
   */
  | 'USERS_IMPERSONATE'
  /**
   * Read any user, including private fields (`email`, `lastLoginAt`) and
   * soft-deleted users, and their API keys.
   */
  | 'USERS_READ'
  /**
   * Update any user's profile, status and password (a password or an
   * address only from a signed-in session, never with an API key).
   */
  | 'USERS_UPDATE';

/** Where a signing key is in its life. */
export type SigningKeyState =
  /** Signs new access tokens; there is one. */
  | 'ACTIVE'
  /**
   * Published in the JWKS before it signs anything: the key the next
   * rotation makes active, so services that cache the key set already
   * hold it then. There is one (none with `JWT_PRIVATE_KEY_FILE`).
   */
  | 'NEXT'
  /** Verifies nothing; no longer published. */
  | 'RETIRED'
  /**
   * Replaced: verifies the tokens it signed, and stays in the JWKS,
   * until `retiresAt`.
   */
  | 'VERIFY_ONLY';

/**
 * Which users `users` returns. Every condition given must hold; `and`,
 * `or` and `not` nest filters (at most 5 levels and 50 filters in all).
 * Soft-deleted users are left out unless some level sets `includeDeleted`
 * or `onlyDeleted`.
 */
export type UserFilter = {
  /** Every one of these filters holds. */
  and?: Array<UserFilter> | null | undefined;
  /** Created at or after this instant. */
  createdAfter?: string | null | undefined;
  /** Created before this instant. */
  createdBefore?: string | null | undefined;
  /** The user with this email address, exactly but case-insensitively. */
  email?: string | null | undefined;
  /** Users whose address is verified (or, when false, is not). */
  emailVerified?: boolean | null | undefined;
  /** The user imported with this `externalId`. */
  externalId?: string | null | undefined;
  /** Users with these ids (at most 1000). */
  ids?: Array<string | number> | null | undefined;
  /** Include soft-deleted users (they are hidden by default). */
  includeDeleted?: boolean;
  /** Superusers and holders of the `admin` role (or, when false, everyone else). */
  isStaff?: boolean | null | undefined;
  /** Superusers only (or, when false, everyone else). */
  isSuperuser?: boolean | null | undefined;
  /** Last logged in at or after this instant. */
  lastLoginAfter?: string | null | undefined;
  /** Last logged in before this instant (users who never logged in do not match). */
  lastLoginBefore?: string | null | undefined;
  /** Every match must hold on `appMetadata`. */
  metadata?: Array<MetadataMatch> | null | undefined;
  /** Users with a second factor on (or, when false, off). */
  mfaEnabled?: boolean | null | undefined;
  /** Users who never logged in (or, when false, who did). */
  neverLoggedIn?: boolean | null | undefined;
  /** This filter does not hold. */
  not?: UserFilter | null | undefined;
  /** Only soft-deleted users. */
  onlyDeleted?: boolean;
  /** At least one of these filters holds. */
  or?: Array<UserFilter> | null | undefined;
  /** Members of this organisation (`org_…`). */
  organizationId?: string | number | null | undefined;
  /** Holders of the role with this name. */
  role?: string | null | undefined;
  /**
   * Matches username, email, first, last and display name, case-insensitively;
   * `%` and `_` are literal characters.
   */
  search?: string | null | undefined;
  /** Users with this status. */
  status?: UserStatus | null | undefined;
  /** Users on this tier. */
  tierId?: string | number | null | undefined;
  /** Changed at or after this instant. */
  updatedAfter?: string | null | undefined;
  /** Changed before this instant. */
  updatedBefore?: string | null | undefined;
  /** The user with this username, exactly but case-insensitively. */
  username?: string | null | undefined;
};

/** Whether an account may be used. */
export type UserStatus =
  /** Can sign in and use the API. */
  | 'ACTIVE'
  /** Disabled, typically by the user or pending activation; cannot sign in. */
  | 'INACTIVE'
  /** Disabled by an administrator; cannot sign in. */
  | 'SUSPENDED';

export type ConsoleLoginMutationVariables = Exact<{
  input: LoginInput;
}>;


export type ConsoleLoginMutation = { login: { accessToken: string, refreshToken: string, user: { id: string, username: string } } };

export type ConsoleVerifyMfaMutationVariables = Exact<{
  mfaToken: string;
  code: string;
}>;


export type ConsoleVerifyMfaMutation = { verifyMfa: { accessToken: string, refreshToken: string } };

export type ConsoleStartPasskeySignInMutationVariables = Exact<{
  login?: string | null | undefined;
}>;


export type ConsoleStartPasskeySignInMutation = { startPasskeySignIn: { challengeId: string, options: unknown } };

export type ConsoleFinishPasskeySignInMutationVariables = Exact<{
  challengeId: string | number;
  credential: unknown;
}>;


export type ConsoleFinishPasskeySignInMutation = { finishPasskeySignIn: { accessToken: string, refreshToken: string } };

export type ConsoleSetRolesMutationVariables = Exact<{
  id: string | number;
  roleIds: Array<string | number> | string | number;
}>;


export type ConsoleSetRolesMutation = { setUserRoles: { id: string, roles: Array<{ id: string, name: string }> } };

export type ConsoleSetTierMutationVariables = Exact<{
  id: string | number;
  tierId?: string | number | null | undefined;
}>;


export type ConsoleSetTierMutation = { setUserTier: { id: string, tier: { id: string, name: string } | null } };

export type ConsoleRefreshMutationVariables = Exact<{
  refreshToken: string;
}>;


export type ConsoleRefreshMutation = { refreshToken: { accessToken: string, refreshToken: string } };

export type ConsoleLogoutMutationVariables = Exact<{ [key: string]: never; }>;


export type ConsoleLogoutMutation = { logout: boolean };

export type ConsoleMeQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleMeQuery = { me: { id: string, username: string, name: string, isSuperuser: boolean, roles: Array<{ name: string, permissions: Array<Permission> }> } };

export type ConsoleUsersQueryVariables = Exact<{
  first: number;
  after?: string | null | undefined;
  filter?: UserFilter | null | undefined;
}>;


export type ConsoleUsersQuery = { users: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, nodes: Array<{ id: string, username: string, email: string | null, name: string, status: UserStatus, isSuperuser: boolean, mfaEnabled: boolean, lastLoginAt: string | null, createdAt: string, roles: Array<{ name: string }> }> } };

export type ConsoleUserQueryVariables = Exact<{
  id: string | number;
}>;


export type ConsoleUserQuery = { user: { id: string, username: string, email: string | null, name: string, firstName: string | null, lastName: string | null, status: UserStatus, isActive: boolean, isDeleted: boolean, isSuperuser: boolean, emailVerified: boolean, mfaEnabled: boolean, hasPassword: boolean, invitationPending: boolean, createdAt: string, updatedAt: string, lastLoginAt: string | null, appMetadata: unknown, tier: { id: string, name: string } | null, roles: Array<{ id: string, name: string }>, sessions: Array<{ id: string, createdAt: string, lastUsedAt: string, expiresAt: string, ip: string | null, userAgent: string | null, readOnly: boolean, impersonationReason: string | null, impersonator: { id: string, username: string } | null }>, identities: Array<{ id: string, email: string | null, provider: { name: string } }>, passkeys: Array<{ id: string, name: string, createdAt: string, lastUsedAt: string | null }>, memberships: Array<{ id: string, organization: { id: string, name: string, slug: string }, roles: Array<{ name: string }> }> } | null };

export type ConsoleUserKeysQueryVariables = Exact<{
  id: string | number;
}>;


export type ConsoleUserKeysQuery = { apiKeys: Array<{ id: string, name: string, prefix: string, permissions: Array<Permission>, createdAt: string, expiresAt: string | null, lastUsedAt: string | null }> };

export type ConsoleUserAuditQueryVariables = Exact<{
  id: string | number;
}>;


export type ConsoleUserAuditQuery = { user: { id: string, auditEvents: { nodes: Array<{ id: string, action: string, actorId: string | null, impersonatorId: string | null, createdAt: string, changes: unknown, ip: string | null, actor: { username: string } | null }> } } | null };

export type ConsoleSetStatusMutationVariables = Exact<{
  id: string | number;
  status: UserStatus;
}>;


export type ConsoleSetStatusMutation = { setUserStatus: { id: string, status: UserStatus, isActive: boolean } };

export type ConsoleRevokeSessionsMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleRevokeSessionsMutation = { revokeUserSessions: number };

export type ConsoleUnlockMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleUnlockMutation = { unlockUser: { id: string } };

export type ConsoleResetMfaMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleResetMfaMutation = { resetUserMfa: { id: string, mfaEnabled: boolean } };

export type ConsoleEraseMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleEraseMutation = { eraseUser: boolean };

export type ConsoleSendPasswordResetMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleSendPasswordResetMutation = { sendPasswordReset: boolean };

export type ConsoleResendInvitationMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleResendInvitationMutation = { resendInvitation: boolean };

export type ConsoleRevokeApiKeyMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleRevokeApiKeyMutation = { revokeApiKey: boolean };

export type ConsoleImpersonateMutationVariables = Exact<{
  id: string | number;
  reason: string;
  readOnly: boolean;
  ttlSeconds: number;
  password: string;
}>;


export type ConsoleImpersonateMutation = { impersonateUser: { accessToken: string, refreshToken: string, user: { id: string, username: string } } };

export type ConsoleEndImpersonationMutationVariables = Exact<{ [key: string]: never; }>;


export type ConsoleEndImpersonationMutation = { endImpersonation: boolean };

export type ConsoleImpersonatedViewQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleImpersonatedViewQuery = { me: { id: string, username: string, name: string, email: string | null, status: UserStatus }, mySessions: Array<{ id: string, current: boolean, readOnly: boolean, impersonationReason: string | null, expiresAt: string, impersonator: { username: string } | null }>, mySecurityEvents: { nodes: Array<{ id: string, action: string, createdAt: string, impersonatorId: string | null }> } };

export type ConsoleUpdateMyNameMutationVariables = Exact<{
  name: string;
}>;


export type ConsoleUpdateMyNameMutation = { updateMe: { id: string, name: string } };

export type ConsoleAuditPageQueryVariables = Exact<{
  first: number;
  after?: string | null | undefined;
}>;


export type ConsoleAuditPageQuery = { auditEvents: { pageInfo: { hasNextPage: boolean, endCursor: string | null }, nodes: Array<{ id: string, action: string, actorId: string | null, targetId: string | null, impersonatorId: string | null, createdAt: string, ip: string | null, actor: { username: string } | null, target: { id: string, username: string } | null }> } };

export type ConsoleAuditLiveSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type ConsoleAuditLiveSubscription = { auditEvents: { id: string, action: string, actorId: string | null, targetId: string | null, impersonatorId: string | null, createdAt: string, ip: string | null, actor: { username: string } | null, target: { id: string, username: string } | null } };

export type ConsoleRolesQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleRolesQuery = { roles: Array<{ id: string, name: string, description: string | null, permissions: Array<Permission>, isBuiltin: boolean }> };

export type ConsoleTiersQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleTiersQuery = { tiers: Array<{ id: string, name: string, description: string | null, createdAt: string }> };

export type ConsoleOrganizationsQueryVariables = Exact<{
  first: number;
  after?: string | null | undefined;
  search?: string | null | undefined;
}>;


export type ConsoleOrganizationsQuery = { organizations: { pageInfo: { hasNextPage: boolean, endCursor: string | null }, nodes: Array<{ id: string, name: string, slug: string, createdAt: string, tier: { name: string } | null }> } };

export type ConsoleWebhooksQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleWebhooksQuery = { webhooks: Array<{ id: string, url: string, description: string | null, events: Array<string>, enabled: boolean, disabledReason: string | null, createdAt: string }> };

export type ConsoleDeliveriesQueryVariables = Exact<{
  webhookId: string | number;
}>;


export type ConsoleDeliveriesQuery = { webhookDeliveries: { nodes: Array<{ id: string, eventType: string, attempt: number, succeeded: boolean, statusCode: number | null, error: string | null, durationMs: number, createdAt: string }> } };

export type ConsoleRedeliverMutationVariables = Exact<{
  deliveryId: string | number;
}>;


export type ConsoleRedeliverMutation = { redeliverWebhook: boolean };

export type ConsoleSigningKeysQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleSigningKeysQuery = { signingKeys: Array<{ id: string, kid: string, algorithm: string, state: SigningKeyState, createdAt: string, retiresAt: string | null }> };


export const ConsoleLoginDocument = {"__meta__":{"hash":"sha256:807cb5f9fe02dc0f0f44ba568cbdb1a915374d78ca5afef3adc70754c5bf42c2"}} as unknown as DocumentNode<ConsoleLoginMutation, ConsoleLoginMutationVariables>;
export const ConsoleVerifyMfaDocument = {"__meta__":{"hash":"sha256:9b04f03d53b2fc24891472ef81aa41319bf535b42970aab99bf77bce41a7a04a"}} as unknown as DocumentNode<ConsoleVerifyMfaMutation, ConsoleVerifyMfaMutationVariables>;
export const ConsoleStartPasskeySignInDocument = {"__meta__":{"hash":"sha256:e33ccc65b0f6f615283ee9f4126d3711626ee363f1fb4148d4552cc10f5ff45d"}} as unknown as DocumentNode<ConsoleStartPasskeySignInMutation, ConsoleStartPasskeySignInMutationVariables>;
export const ConsoleFinishPasskeySignInDocument = {"__meta__":{"hash":"sha256:8f8404e25f57ec949b2ad84c179a1a241e7b41ee19f5560ae5d881d369d95776"}} as unknown as DocumentNode<ConsoleFinishPasskeySignInMutation, ConsoleFinishPasskeySignInMutationVariables>;
export const ConsoleSetRolesDocument = {"__meta__":{"hash":"sha256:6f0268a4c5bfe279f746067cca58e1f1d452fca0992b281328429d545a41b42a"}} as unknown as DocumentNode<ConsoleSetRolesMutation, ConsoleSetRolesMutationVariables>;
export const ConsoleSetTierDocument = {"__meta__":{"hash":"sha256:ded65074aa0f17cbbc52b9dcfdb1611568d7f90eaa13ccf0399ace7d4d044b27"}} as unknown as DocumentNode<ConsoleSetTierMutation, ConsoleSetTierMutationVariables>;
export const ConsoleRefreshDocument = {"__meta__":{"hash":"sha256:79ff154c3758733a72c2dfe0d1305eacc51da8199dbb5963e06a29b9be740666"}} as unknown as DocumentNode<ConsoleRefreshMutation, ConsoleRefreshMutationVariables>;
export const ConsoleLogoutDocument = {"__meta__":{"hash":"sha256:77e957a4fc00bff7bcedd31ba3c75089a4cbfbd86ea5e8ea03b5985001900bc3"}} as unknown as DocumentNode<ConsoleLogoutMutation, ConsoleLogoutMutationVariables>;
export const ConsoleMeDocument = {"__meta__":{"hash":"sha256:b63ff739716775f5bdcc4317b6415c3f32a5aa1ad7002991b0629cc4abbf0b78"}} as unknown as DocumentNode<ConsoleMeQuery, ConsoleMeQueryVariables>;
export const ConsoleUsersDocument = {"__meta__":{"hash":"sha256:49a465bd4d4d9d645c8633eb1bb19c69890e59b07862d9d0bbd9262b41652933"}} as unknown as DocumentNode<ConsoleUsersQuery, ConsoleUsersQueryVariables>;
export const ConsoleUserDocument = {"__meta__":{"hash":"sha256:57dc7dc1d4c763b0d333ffbdcde27357de5e53277c38ea7c8040da8e665ea63c"}} as unknown as DocumentNode<ConsoleUserQuery, ConsoleUserQueryVariables>;
export const ConsoleUserKeysDocument = {"__meta__":{"hash":"sha256:5ac1d2a5582975f4bf2fcee62ee08853698f52f805cfa635e24cdd0c83ccc5d6"}} as unknown as DocumentNode<ConsoleUserKeysQuery, ConsoleUserKeysQueryVariables>;
export const ConsoleUserAuditDocument = {"__meta__":{"hash":"sha256:0b9faff072966608f9ce4ee55431ccc635c7f346356efa3c6818710de20626e8"}} as unknown as DocumentNode<ConsoleUserAuditQuery, ConsoleUserAuditQueryVariables>;
export const ConsoleSetStatusDocument = {"__meta__":{"hash":"sha256:d5e0d83c05573dbfb27217a7ac850630eda7361464c6e33baba4f96574b09c21"}} as unknown as DocumentNode<ConsoleSetStatusMutation, ConsoleSetStatusMutationVariables>;
export const ConsoleRevokeSessionsDocument = {"__meta__":{"hash":"sha256:92792adebba8a8b785408b282c675aeda491c8e7011164c08e7cbcfe984081e5"}} as unknown as DocumentNode<ConsoleRevokeSessionsMutation, ConsoleRevokeSessionsMutationVariables>;
export const ConsoleUnlockDocument = {"__meta__":{"hash":"sha256:5682efff60dcc9fb33e861889d0569cc732551ebd194be060932fa7ee7c9db85"}} as unknown as DocumentNode<ConsoleUnlockMutation, ConsoleUnlockMutationVariables>;
export const ConsoleResetMfaDocument = {"__meta__":{"hash":"sha256:67a8114faef15f7f21d2fe8a33b9cc1c589df35f168f8abab39a8f9ba3d7371a"}} as unknown as DocumentNode<ConsoleResetMfaMutation, ConsoleResetMfaMutationVariables>;
export const ConsoleEraseDocument = {"__meta__":{"hash":"sha256:45d487d1a15fd4ad61dbbb70c4fd4d9a5b98cd3db0c6cb431de57bd4e21628ac"}} as unknown as DocumentNode<ConsoleEraseMutation, ConsoleEraseMutationVariables>;
export const ConsoleSendPasswordResetDocument = {"__meta__":{"hash":"sha256:064f43e90b7d6671b392fd0f0a5e6624528c0539f901203598b20c21a73a9eb5"}} as unknown as DocumentNode<ConsoleSendPasswordResetMutation, ConsoleSendPasswordResetMutationVariables>;
export const ConsoleResendInvitationDocument = {"__meta__":{"hash":"sha256:142e57ce7c133ce563d82786440067d162a5d803c1344afdc05c3a2dec73afae"}} as unknown as DocumentNode<ConsoleResendInvitationMutation, ConsoleResendInvitationMutationVariables>;
export const ConsoleRevokeApiKeyDocument = {"__meta__":{"hash":"sha256:024f04312a1ae1734f20bedc2bb4cda8824a5ad9adeece53540e6d690856cc9a"}} as unknown as DocumentNode<ConsoleRevokeApiKeyMutation, ConsoleRevokeApiKeyMutationVariables>;
export const ConsoleImpersonateDocument = {"__meta__":{"hash":"sha256:1f4b08939e40009219fab804859b3e9206a50f27747dc973d35182048f32cac0"}} as unknown as DocumentNode<ConsoleImpersonateMutation, ConsoleImpersonateMutationVariables>;
export const ConsoleEndImpersonationDocument = {"__meta__":{"hash":"sha256:18f44bef8eb71c2e7ef932d3944f72d72f342dfd2747db049fbed88c0bc4537f"}} as unknown as DocumentNode<ConsoleEndImpersonationMutation, ConsoleEndImpersonationMutationVariables>;
export const ConsoleImpersonatedViewDocument = {"__meta__":{"hash":"sha256:2071e0176c165e31cec551e6fb984f572694c82074f36b72fb90fd2c3b587029"}} as unknown as DocumentNode<ConsoleImpersonatedViewQuery, ConsoleImpersonatedViewQueryVariables>;
export const ConsoleUpdateMyNameDocument = {"__meta__":{"hash":"sha256:a804f388377f4d0873b6f8ef8efa86d170208561d6a61fdab06205019e98da51"}} as unknown as DocumentNode<ConsoleUpdateMyNameMutation, ConsoleUpdateMyNameMutationVariables>;
export const ConsoleAuditPageDocument = {"__meta__":{"hash":"sha256:1d53b5855106e2def9a03eaba1cc7e278c84d6d201e24fbac846da64c3d339fb"}} as unknown as DocumentNode<ConsoleAuditPageQuery, ConsoleAuditPageQueryVariables>;
export const ConsoleAuditLiveDocument = {"__meta__":{"hash":"sha256:2d6e69d341368c8f311be567d7a4812e7619925bf833c510530ead3a15eb50d7"}} as unknown as DocumentNode<ConsoleAuditLiveSubscription, ConsoleAuditLiveSubscriptionVariables>;
export const ConsoleRolesDocument = {"__meta__":{"hash":"sha256:6d0532320b5d5035bc10763e28ba8cb9810f006c883c50772d27cbf6dd659122"}} as unknown as DocumentNode<ConsoleRolesQuery, ConsoleRolesQueryVariables>;
export const ConsoleTiersDocument = {"__meta__":{"hash":"sha256:6f134a4a589c2185748e708a9ee686ef651a33a6d6f1aa18633b0579e9b6a5b3"}} as unknown as DocumentNode<ConsoleTiersQuery, ConsoleTiersQueryVariables>;
export const ConsoleOrganizationsDocument = {"__meta__":{"hash":"sha256:d56e822e249157fdb58d6502fa4aa68dcca913f8ded320fdcd611786c7713cc5"}} as unknown as DocumentNode<ConsoleOrganizationsQuery, ConsoleOrganizationsQueryVariables>;
export const ConsoleWebhooksDocument = {"__meta__":{"hash":"sha256:43b3aee94196e78525e15f9cc10819fbddcd3b768afefb0fe763f51b12f11f61"}} as unknown as DocumentNode<ConsoleWebhooksQuery, ConsoleWebhooksQueryVariables>;
export const ConsoleDeliveriesDocument = {"__meta__":{"hash":"sha256:1c818ae5d71969ad887d9ae99ea6319405064d7f9c65e542dfa2d02c19b332cd"}} as unknown as DocumentNode<ConsoleDeliveriesQuery, ConsoleDeliveriesQueryVariables>;
export const ConsoleRedeliverDocument = {"__meta__":{"hash":"sha256:f2efd167287b4a43c05cc9f1c2a6a4b2b8ed6108f9b67c48b4b016b76d0dfb42"}} as unknown as DocumentNode<ConsoleRedeliverMutation, ConsoleRedeliverMutationVariables>;
export const ConsoleSigningKeysDocument = {"__meta__":{"hash":"sha256:2303c97270eb2f6afbd8d3b7d981506c5f2032733bf48875dd78611d0e6c5eee"}} as unknown as DocumentNode<ConsoleSigningKeysQuery, ConsoleSigningKeysQueryVariables>;