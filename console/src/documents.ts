// Every operation the console sends. Nothing else reaches the server: the
// build turns these into the trusted-documents manifest, and the bundle
// carries only their hashes.
import { graphql } from './gql';

export const LoginDocument = graphql(`
  mutation ConsoleLogin($input: LoginInput!) {
    login(input: $input) {
      accessToken
      refreshToken
      user { id username }
    }
  }
`);

export const VerifyMfaDocument = graphql(`
  mutation ConsoleVerifyMfa($mfaToken: String!, $code: String!) {
    verifyMfa(mfaToken: $mfaToken, code: $code) {
      accessToken
      refreshToken
    }
  }
`);

export const StartPasskeySignInDocument = graphql(`
  mutation ConsoleStartPasskeySignIn($login: String) {
    startPasskeySignIn(login: $login) {
      challengeId
      options
    }
  }
`);

export const FinishPasskeySignInDocument = graphql(`
  mutation ConsoleFinishPasskeySignIn($challengeId: ID!, $credential: JSON!) {
    finishPasskeySignIn(challengeId: $challengeId, credential: $credential) {
      accessToken
      refreshToken
    }
  }
`);

export const SetRolesDocument = graphql(`
  mutation ConsoleSetRoles($id: ID!, $roleIds: [ID!]!) {
    setUserRoles(id: $id, roleIds: $roleIds) { id roles { id name } }
  }
`);

export const SetTierDocument = graphql(`
  mutation ConsoleSetTier($id: ID!, $tierId: ID) {
    setUserTier(id: $id, tierId: $tierId) { id tier { id name } }
  }
`);

export const RefreshDocument = graphql(`
  mutation ConsoleRefresh($refreshToken: String!) {
    refreshToken(refreshToken: $refreshToken) {
      accessToken
      refreshToken
    }
  }
`);

export const LogoutDocument = graphql(`
  mutation ConsoleLogout {
    logout
  }
`);

export const MeDocument = graphql(`
  query ConsoleMe {
    me {
      id
      username
      name
      isSuperuser
      roles { name permissions }
    }
  }
`);

export const UsersDocument = graphql(`
  query ConsoleUsers($first: Int!, $after: String, $filter: UserFilter) {
    users(first: $first, after: $after, filter: $filter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        id
        username
        email
        name
        status
        isSuperuser
        mfaEnabled
        lastLoginAt
        createdAt
        roles { name }
      }
    }
  }
`);

export const UserDocument = graphql(`
  query ConsoleUser($id: ID!) {
    user(id: $id) {
      id
      username
      email
      name
      firstName
      lastName
      status
      isActive
      isDeleted
      isSuperuser
      emailVerified
      mfaEnabled
      hasPassword
      invitationPending
      createdAt
      updatedAt
      lastLoginAt
      appMetadata
      tier { id name }
      roles { id name }
      sessions {
        id
        createdAt
        lastUsedAt
        expiresAt
        ip
        userAgent
        readOnly
        impersonationReason
        impersonator { id username }
      }
      identities { id email provider { name } }
      passkeys { id name createdAt lastUsedAt }
      memberships {
        id
        organization { id name slug }
        roles { name }
      }
    }
  }
`);

export const UserKeysDocument = graphql(`
  query ConsoleUserKeys($id: ID!) {
    apiKeys(userId: $id) { id name prefix permissions createdAt expiresAt lastUsedAt }
  }
`);

export const UserAuditDocument = graphql(`
  query ConsoleUserAudit($id: ID!) {
    user(id: $id) {
      id
      auditEvents(first: 30) {
        nodes { id action actorId impersonatorId createdAt changes ip actor { username } }
      }
    }
  }
`);

export const SetStatusDocument = graphql(`
  mutation ConsoleSetStatus($id: ID!, $status: UserStatus!) {
    setUserStatus(id: $id, status: $status) { id status isActive }
  }
`);

export const RevokeSessionsDocument = graphql(`
  mutation ConsoleRevokeSessions($id: ID!) {
    revokeUserSessions(id: $id)
  }
`);

export const UnlockDocument = graphql(`
  mutation ConsoleUnlock($id: ID!) {
    unlockUser(id: $id) { id }
  }
`);

export const ResetMfaDocument = graphql(`
  mutation ConsoleResetMfa($id: ID!) {
    resetUserMfa(id: $id) { id mfaEnabled }
  }
`);

export const EraseDocument = graphql(`
  mutation ConsoleErase($id: ID!) {
    eraseUser(id: $id)
  }
`);

export const SendPasswordResetDocument = graphql(`
  mutation ConsoleSendPasswordReset($id: ID!) {
    sendPasswordReset(id: $id)
  }
`);

export const ResendInvitationDocument = graphql(`
  mutation ConsoleResendInvitation($id: ID!) {
    resendInvitation(id: $id)
  }
`);

export const RevokeApiKeyDocument = graphql(`
  mutation ConsoleRevokeApiKey($id: ID!) {
    revokeApiKey(id: $id)
  }
`);

export const ImpersonateDocument = graphql(`
  mutation ConsoleImpersonate($id: ID!, $reason: String!, $readOnly: Boolean!, $ttlSeconds: Int!, $password: String!) {
    impersonateUser(id: $id, reason: $reason, readOnly: $readOnly, ttlSeconds: $ttlSeconds, password: $password) {
      accessToken
      refreshToken
      user { id username }
    }
  }
`);

export const EndImpersonationDocument = graphql(`
  mutation ConsoleEndImpersonation {
    endImpersonation
  }
`);

export const ImpersonatedViewDocument = graphql(`
  query ConsoleImpersonatedView {
    me { id username name email status }
    mySessions { id current readOnly impersonationReason expiresAt impersonator { username } }
    mySecurityEvents(first: 10) { nodes { id action createdAt impersonatorId } }
  }
`);

export const UpdateMyNameDocument = graphql(`
  mutation ConsoleUpdateMyName($name: String!) {
    updateMe(input: { name: $name }) { id name }
  }
`);

export const AuditPageDocument = graphql(`
  query ConsoleAuditPage($first: Int!, $after: String) {
    auditEvents(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { id action actorId targetId impersonatorId createdAt ip actor { username } target { id username } }
    }
  }
`);

export const AuditLiveDocument = graphql(`
  subscription ConsoleAuditLive {
    auditEvents { id action actorId targetId impersonatorId createdAt ip actor { username } target { id username } }
  }
`);

export const RolesDocument = graphql(`
  query ConsoleRoles {
    roles { id name description permissions isBuiltin }
  }
`);

export const TiersDocument = graphql(`
  query ConsoleTiers {
    tiers { id name description createdAt }
  }
`);

export const OrganizationsDocument = graphql(`
  query ConsoleOrganizations($first: Int!, $after: String, $search: String) {
    organizations(first: $first, after: $after, search: $search) {
      pageInfo { hasNextPage endCursor }
      nodes { id name slug createdAt tier { name } }
    }
  }
`);

export const WebhooksDocument = graphql(`
  query ConsoleWebhooks {
    webhooks { id url description events enabled disabledReason createdAt }
  }
`);

export const DeliveriesDocument = graphql(`
  query ConsoleDeliveries($webhookId: ID!) {
    webhookDeliveries(webhookId: $webhookId, first: 20) {
      nodes { id eventType attempt succeeded statusCode error durationMs createdAt }
    }
  }
`);

export const RedeliverDocument = graphql(`
  mutation ConsoleRedeliver($deliveryId: ID!) {
    redeliverWebhook(deliveryId: $deliveryId)
  }
`);

export const SigningKeysDocument = graphql(`
  query ConsoleSigningKeys {
    signingKeys { id kid algorithm state createdAt retiresAt }
  }
`);
