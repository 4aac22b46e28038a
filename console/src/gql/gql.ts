/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  mutation ConsoleLogin($input: LoginInput!) {\n    login(input: $input) {\n      accessToken\n      refreshToken\n      user { id username }\n    }\n  }\n": typeof types.ConsoleLoginDocument,
    "\n  mutation ConsoleVerifyMfa($mfaToken: String!, $code: String!) {\n    verifyMfa(mfaToken: $mfaToken, code: $code) {\n      accessToken\n      refreshToken\n    }\n  }\n": typeof types.ConsoleVerifyMfaDocument,
    "\n  mutation ConsoleStartPasskeySignIn($login: String) {\n    startPasskeySignIn(login: $login) {\n      challengeId\n      options\n    }\n  }\n": typeof types.ConsoleStartPasskeySignInDocument,
    "\n  mutation ConsoleFinishPasskeySignIn($challengeId: ID!, $credential: JSON!) {\n    finishPasskeySignIn(challengeId: $challengeId, credential: $credential) {\n      accessToken\n      refreshToken\n    }\n  }\n": typeof types.ConsoleFinishPasskeySignInDocument,
    "\n  mutation ConsoleSetRoles($id: ID!, $roleIds: [ID!]!) {\n    setUserRoles(id: $id, roleIds: $roleIds) { id roles { id name } }\n  }\n": typeof types.ConsoleSetRolesDocument,
    "\n  mutation ConsoleSetTier($id: ID!, $tierId: ID) {\n    setUserTier(id: $id, tierId: $tierId) { id tier { id name } }\n  }\n": typeof types.ConsoleSetTierDocument,
    "\n  mutation ConsoleRefresh($refreshToken: String!) {\n    refreshToken(refreshToken: $refreshToken) {\n      accessToken\n      refreshToken\n    }\n  }\n": typeof types.ConsoleRefreshDocument,
    "\n  mutation ConsoleLogout {\n    logout\n  }\n": typeof types.ConsoleLogoutDocument,
    "\n  query ConsoleMe {\n    me {\n      id\n      username\n      name\n      isSuperuser\n      roles { name permissions }\n    }\n  }\n": typeof types.ConsoleMeDocument,
    "\n  query ConsoleUsers($first: Int!, $after: String, $filter: UserFilter) {\n    users(first: $first, after: $after, filter: $filter) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes {\n        id\n        username\n        email\n        name\n        status\n        isSuperuser\n        mfaEnabled\n        lastLoginAt\n        createdAt\n        roles { name }\n      }\n    }\n  }\n": typeof types.ConsoleUsersDocument,
    "\n  query ConsoleUser($id: ID!) {\n    user(id: $id) {\n      id\n      username\n      email\n      name\n      firstName\n      lastName\n      status\n      isActive\n      isDeleted\n      isSuperuser\n      emailVerified\n      mfaEnabled\n      hasPassword\n      invitationPending\n      createdAt\n      updatedAt\n      lastLoginAt\n      appMetadata\n      tier { id name }\n      roles { id name }\n      sessions {\n        id\n        createdAt\n        lastUsedAt\n        expiresAt\n        ip\n        userAgent\n        readOnly\n        impersonationReason\n        impersonator { id username }\n      }\n      identities { id email provider { name } }\n      passkeys { id name createdAt lastUsedAt }\n      memberships {\n        id\n        organization { id name slug }\n        roles { name }\n      }\n    }\n  }\n": typeof types.ConsoleUserDocument,
    "\n  query ConsoleUserKeys($id: ID!) {\n    apiKeys(userId: $id) { id name prefix permissions createdAt expiresAt lastUsedAt }\n  }\n": typeof types.ConsoleUserKeysDocument,
    "\n  query ConsoleUserAudit($id: ID!) {\n    user(id: $id) {\n      id\n      auditEvents(first: 30) {\n        nodes { id action actorId impersonatorId createdAt changes ip actor { username } }\n      }\n    }\n  }\n": typeof types.ConsoleUserAuditDocument,
    "\n  mutation ConsoleSetStatus($id: ID!, $status: UserStatus!) {\n    setUserStatus(id: $id, status: $status) { id status isActive }\n  }\n": typeof types.ConsoleSetStatusDocument,
    "\n  mutation ConsoleRevokeSessions($id: ID!) {\n    revokeUserSessions(id: $id)\n  }\n": typeof types.ConsoleRevokeSessionsDocument,
    "\n  mutation ConsoleUnlock($id: ID!) {\n    unlockUser(id: $id) { id }\n  }\n": typeof types.ConsoleUnlockDocument,
    "\n  mutation ConsoleResetMfa($id: ID!) {\n    resetUserMfa(id: $id) { id mfaEnabled }\n  }\n": typeof types.ConsoleResetMfaDocument,
    "\n  mutation ConsoleErase($id: ID!) {\n    eraseUser(id: $id)\n  }\n": typeof types.ConsoleEraseDocument,
    "\n  mutation ConsoleSendPasswordReset($id: ID!) {\n    sendPasswordReset(id: $id)\n  }\n": typeof types.ConsoleSendPasswordResetDocument,
    "\n  mutation ConsoleResendInvitation($id: ID!) {\n    resendInvitation(id: $id)\n  }\n": typeof types.ConsoleResendInvitationDocument,
    "\n  mutation ConsoleRevokeApiKey($id: ID!) {\n    revokeApiKey(id: $id)\n  }\n": typeof types.ConsoleRevokeApiKeyDocument,
    "\n  mutation ConsoleImpersonate($id: ID!, $reason: String!, $readOnly: Boolean!, $ttlSeconds: Int!, $password: String!) {\n    impersonateUser(id: $id, reason: $reason, readOnly: $readOnly, ttlSeconds: $ttlSeconds, password: $password) {\n      accessToken\n      refreshToken\n      user { id username }\n    }\n  }\n": typeof types.ConsoleImpersonateDocument,
    "\n  mutation ConsoleEndImpersonation {\n    endImpersonation\n  }\n": typeof types.ConsoleEndImpersonationDocument,
    "\n  query ConsoleImpersonatedView {\n    me { id username name email status }\n    mySessions { id current readOnly impersonationReason expiresAt impersonator { username } }\n    mySecurityEvents(first: 10) { nodes { id action createdAt impersonatorId } }\n  }\n": typeof types.ConsoleImpersonatedViewDocument,
    "\n  mutation ConsoleUpdateMyName($name: String!) {\n    updateMe(input: { name: $name }) { id name }\n  }\n": typeof types.ConsoleUpdateMyNameDocument,
    "\n  query ConsoleAuditPage($first: Int!, $after: String) {\n    auditEvents(first: $first, after: $after) {\n      pageInfo { hasNextPage endCursor }\n      nodes { id action actorId targetId impersonatorId createdAt ip actor { username } target { id username } }\n    }\n  }\n": typeof types.ConsoleAuditPageDocument,
    "\n  subscription ConsoleAuditLive {\n    auditEvents { id action actorId targetId impersonatorId createdAt ip actor { username } target { id username } }\n  }\n": typeof types.ConsoleAuditLiveDocument,
    "\n  query ConsoleRoles {\n    roles { id name description permissions isBuiltin }\n  }\n": typeof types.ConsoleRolesDocument,
    "\n  query ConsoleTiers {\n    tiers { id name description createdAt }\n  }\n": typeof types.ConsoleTiersDocument,
    "\n  query ConsoleOrganizations($first: Int!, $after: String, $search: String) {\n    organizations(first: $first, after: $after, search: $search) {\n      pageInfo { hasNextPage endCursor }\n      nodes { id name slug createdAt tier { name } }\n    }\n  }\n": typeof types.ConsoleOrganizationsDocument,
    "\n  query ConsoleWebhooks {\n    webhooks { id url description events enabled disabledReason createdAt }\n  }\n": typeof types.ConsoleWebhooksDocument,
    "\n  query ConsoleDeliveries($webhookId: ID!) {\n    webhookDeliveries(webhookId: $webhookId, first: 20) {\n      nodes { id eventType attempt succeeded statusCode error durationMs createdAt }\n    }\n  }\n": typeof types.ConsoleDeliveriesDocument,
    "\n  mutation ConsoleRedeliver($deliveryId: ID!) {\n    redeliverWebhook(deliveryId: $deliveryId)\n  }\n": typeof types.ConsoleRedeliverDocument,
    "\n  query ConsoleSigningKeys {\n    signingKeys { id kid algorithm state createdAt retiresAt }\n  }\n": typeof types.ConsoleSigningKeysDocument,
};
const documents: Documents = {
    "\n  mutation ConsoleLogin($input: LoginInput!) {\n    login(input: $input) {\n      accessToken\n      refreshToken\n      user { id username }\n    }\n  }\n": types.ConsoleLoginDocument,
    "\n  mutation ConsoleVerifyMfa($mfaToken: String!, $code: String!) {\n    verifyMfa(mfaToken: $mfaToken, code: $code) {\n      accessToken\n      refreshToken\n    }\n  }\n": types.ConsoleVerifyMfaDocument,
    "\n  mutation ConsoleStartPasskeySignIn($login: String) {\n    startPasskeySignIn(login: $login) {\n      challengeId\n      options\n    }\n  }\n": types.ConsoleStartPasskeySignInDocument,
    "\n  mutation ConsoleFinishPasskeySignIn($challengeId: ID!, $credential: JSON!) {\n    finishPasskeySignIn(challengeId: $challengeId, credential: $credential) {\n      accessToken\n      refreshToken\n    }\n  }\n": types.ConsoleFinishPasskeySignInDocument,
    "\n  mutation ConsoleSetRoles($id: ID!, $roleIds: [ID!]!) {\n    setUserRoles(id: $id, roleIds: $roleIds) { id roles { id name } }\n  }\n": types.ConsoleSetRolesDocument,
    "\n  mutation ConsoleSetTier($id: ID!, $tierId: ID) {\n    setUserTier(id: $id, tierId: $tierId) { id tier { id name } }\n  }\n": types.ConsoleSetTierDocument,
    "\n  mutation ConsoleRefresh($refreshToken: String!) {\n    refreshToken(refreshToken: $refreshToken) {\n      accessToken\n      refreshToken\n    }\n  }\n": types.ConsoleRefreshDocument,
    "\n  mutation ConsoleLogout {\n    logout\n  }\n": types.ConsoleLogoutDocument,
    "\n  query ConsoleMe {\n    me {\n      id\n      username\n      name\n      isSuperuser\n      roles { name permissions }\n    }\n  }\n": types.ConsoleMeDocument,
    "\n  query ConsoleUsers($first: Int!, $after: String, $filter: UserFilter) {\n    users(first: $first, after: $after, filter: $filter) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes {\n        id\n        username\n        email\n        name\n        status\n        isSuperuser\n        mfaEnabled\n        lastLoginAt\n        createdAt\n        roles { name }\n      }\n    }\n  }\n": types.ConsoleUsersDocument,
    "\n  query ConsoleUser($id: ID!) {\n    user(id: $id) {\n      id\n      username\n      email\n      name\n      firstName\n      lastName\n      status\n      isActive\n      isDeleted\n      isSuperuser\n      emailVerified\n      mfaEnabled\n      hasPassword\n      invitationPending\n      createdAt\n      updatedAt\n      lastLoginAt\n      appMetadata\n      tier { id name }\n      roles { id name }\n      sessions {\n        id\n        createdAt\n        lastUsedAt\n        expiresAt\n        ip\n        userAgent\n        readOnly\n        impersonationReason\n        impersonator { id username }\n      }\n      identities { id email provider { name } }\n      passkeys { id name createdAt lastUsedAt }\n      memberships {\n        id\n        organization { id name slug }\n        roles { name }\n      }\n    }\n  }\n": types.ConsoleUserDocument,
    "\n  query ConsoleUserKeys($id: ID!) {\n    apiKeys(userId: $id) { id name prefix permissions createdAt expiresAt lastUsedAt }\n  }\n": types.ConsoleUserKeysDocument,
    "\n  query ConsoleUserAudit($id: ID!) {\n    user(id: $id) {\n      id\n      auditEvents(first: 30) {\n        nodes { id action actorId impersonatorId createdAt changes ip actor { username } }\n      }\n    }\n  }\n": types.ConsoleUserAuditDocument,
    "\n  mutation ConsoleSetStatus($id: ID!, $status: UserStatus!) {\n    setUserStatus(id: $id, status: $status) { id status isActive }\n  }\n": types.ConsoleSetStatusDocument,
    "\n  mutation ConsoleRevokeSessions($id: ID!) {\n    revokeUserSessions(id: $id)\n  }\n": types.ConsoleRevokeSessionsDocument,
    "\n  mutation ConsoleUnlock($id: ID!) {\n    unlockUser(id: $id) { id }\n  }\n": types.ConsoleUnlockDocument,
    "\n  mutation ConsoleResetMfa($id: ID!) {\n    resetUserMfa(id: $id) { id mfaEnabled }\n  }\n": types.ConsoleResetMfaDocument,
    "\n  mutation ConsoleErase($id: ID!) {\n    eraseUser(id: $id)\n  }\n": types.ConsoleEraseDocument,
    "\n  mutation ConsoleSendPasswordReset($id: ID!) {\n    sendPasswordReset(id: $id)\n  }\n": types.ConsoleSendPasswordResetDocument,
    "\n  mutation ConsoleResendInvitation($id: ID!) {\n    resendInvitation(id: $id)\n  }\n": types.ConsoleResendInvitationDocument,
    "\n  mutation ConsoleRevokeApiKey($id: ID!) {\n    revokeApiKey(id: $id)\n  }\n": types.ConsoleRevokeApiKeyDocument,
    "\n  mutation ConsoleImpersonate($id: ID!, $reason: String!, $readOnly: Boolean!, $ttlSeconds: Int!, $password: String!) {\n    impersonateUser(id: $id, reason: $reason, readOnly: $readOnly, ttlSeconds: $ttlSeconds, password: $password) {\n      accessToken\n      refreshToken\n      user { id username }\n    }\n  }\n": types.ConsoleImpersonateDocument,
    "\n  mutation ConsoleEndImpersonation {\n    endImpersonation\n  }\n": types.ConsoleEndImpersonationDocument,
    "\n  query ConsoleImpersonatedView {\n    me { id username name email status }\n    mySessions { id current readOnly impersonationReason expiresAt impersonator { username } }\n    mySecurityEvents(first: 10) { nodes { id action createdAt impersonatorId } }\n  }\n": types.ConsoleImpersonatedViewDocument,
    "\n  mutation ConsoleUpdateMyName($name: String!) {\n    updateMe(input: { name: $name }) { id name }\n  }\n": types.ConsoleUpdateMyNameDocument,
    "\n  query ConsoleAuditPage($first: Int!, $after: String) {\n    auditEvents(first: $first, after: $after) {\n      pageInfo { hasNextPage endCursor }\n      nodes { id action actorId targetId impersonatorId createdAt ip actor { username } target { id username } }\n    }\n  }\n": types.ConsoleAuditPageDocument,
    "\n  subscription ConsoleAuditLive {\n    auditEvents { id action actorId targetId impersonatorId createdAt ip actor { username } target { id username } }\n  }\n": types.ConsoleAuditLiveDocument,
    "\n  query ConsoleRoles {\n    roles { id name description permissions isBuiltin }\n  }\n": types.ConsoleRolesDocument,
    "\n  query ConsoleTiers {\n    tiers { id name description createdAt }\n  }\n": types.ConsoleTiersDocument,
    "\n  query ConsoleOrganizations($first: Int!, $after: String, $search: String) {\n    organizations(first: $first, after: $after, search: $search) {\n      pageInfo { hasNextPage endCursor }\n      nodes { id name slug createdAt tier { name } }\n    }\n  }\n": types.ConsoleOrganizationsDocument,
    "\n  query ConsoleWebhooks {\n    webhooks { id url description events enabled disabledReason createdAt }\n  }\n": types.ConsoleWebhooksDocument,
    "\n  query ConsoleDeliveries($webhookId: ID!) {\n    webhookDeliveries(webhookId: $webhookId, first: 20) {\n      nodes { id eventType attempt succeeded statusCode error durationMs createdAt }\n    }\n  }\n": types.ConsoleDeliveriesDocument,
    "\n  mutation ConsoleRedeliver($deliveryId: ID!) {\n    redeliverWebhook(deliveryId: $deliveryId)\n  }\n": types.ConsoleRedeliverDocument,
    "\n  query ConsoleSigningKeys {\n    signingKeys { id kid algorithm state createdAt retiresAt }\n  }\n": types.ConsoleSigningKeysDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleLogin($input: LoginInput!) {\n    login(input: $input) {\n      accessToken\n      refreshToken\n      user { id username }\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleLogin($input: LoginInput!) {\n    login(input: $input) {\n      accessToken\n      refreshToken\n      user { id username }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleVerifyMfa($mfaToken: String!, $code: String!) {\n    verifyMfa(mfaToken: $mfaToken, code: $code) {\n      accessToken\n      refreshToken\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleVerifyMfa($mfaToken: String!, $code: String!) {\n    verifyMfa(mfaToken: $mfaToken, code: $code) {\n      accessToken\n      refreshToken\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleStartPasskeySignIn($login: String) {\n    startPasskeySignIn(login: $login) {\n      challengeId\n      options\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleStartPasskeySignIn($login: String) {\n    startPasskeySignIn(login: $login) {\n      challengeId\n      options\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleFinishPasskeySignIn($challengeId: ID!, $credential: JSON!) {\n    finishPasskeySignIn(challengeId: $challengeId, credential: $credential) {\n      accessToken\n      refreshToken\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleFinishPasskeySignIn($challengeId: ID!, $credential: JSON!) {\n    finishPasskeySignIn(challengeId: $challengeId, credential: $credential) {\n      accessToken\n      refreshToken\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleSetRoles($id: ID!, $roleIds: [ID!]!) {\n    setUserRoles(id: $id, roleIds: $roleIds) { id roles { id name } }\n  }\n"): (typeof documents)["\n  mutation ConsoleSetRoles($id: ID!, $roleIds: [ID!]!) {\n    setUserRoles(id: $id, roleIds: $roleIds) { id roles { id name } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleSetTier($id: ID!, $tierId: ID) {\n    setUserTier(id: $id, tierId: $tierId) { id tier { id name } }\n  }\n"): (typeof documents)["\n  mutation ConsoleSetTier($id: ID!, $tierId: ID) {\n    setUserTier(id: $id, tierId: $tierId) { id tier { id name } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleRefresh($refreshToken: String!) {\n    refreshToken(refreshToken: $refreshToken) {\n      accessToken\n      refreshToken\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleRefresh($refreshToken: String!) {\n    refreshToken(refreshToken: $refreshToken) {\n      accessToken\n      refreshToken\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleLogout {\n    logout\n  }\n"): (typeof documents)["\n  mutation ConsoleLogout {\n    logout\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleMe {\n    me {\n      id\n      username\n      name\n      isSuperuser\n      roles { name permissions }\n    }\n  }\n"): (typeof documents)["\n  query ConsoleMe {\n    me {\n      id\n      username\n      name\n      isSuperuser\n      roles { name permissions }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleUsers($first: Int!, $after: String, $filter: UserFilter) {\n    users(first: $first, after: $after, filter: $filter) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes {\n        id\n        username\n        email\n        name\n        status\n        isSuperuser\n        mfaEnabled\n        lastLoginAt\n        createdAt\n        roles { name }\n      }\n    }\n  }\n"): (typeof documents)["\n  query ConsoleUsers($first: Int!, $after: String, $filter: UserFilter) {\n    users(first: $first, after: $after, filter: $filter) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes {\n        id\n        username\n        email\n        name\n        status\n        isSuperuser\n        mfaEnabled\n        lastLoginAt\n        createdAt\n        roles { name }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleUser($id: ID!) {\n    user(id: $id) {\n      id\n      username\n      email\n      name\n      firstName\n      lastName\n      status\n      isActive\n      isDeleted\n      isSuperuser\n      emailVerified\n      mfaEnabled\n      hasPassword\n      invitationPending\n      createdAt\n      updatedAt\n      lastLoginAt\n      appMetadata\n      tier { id name }\n      roles { id name }\n      sessions {\n        id\n        createdAt\n        lastUsedAt\n        expiresAt\n        ip\n        userAgent\n        readOnly\n        impersonationReason\n        impersonator { id username }\n      }\n      identities { id email provider { name } }\n      passkeys { id name createdAt lastUsedAt }\n      memberships {\n        id\n        organization { id name slug }\n        roles { name }\n      }\n    }\n  }\n"): (typeof documents)["\n  query ConsoleUser($id: ID!) {\n    user(id: $id) {\n      id\n      username\n      email\n      name\n      firstName\n      lastName\n      status\n      isActive\n      isDeleted\n      isSuperuser\n      emailVerified\n      mfaEnabled\n      hasPassword\n      invitationPending\n      createdAt\n      updatedAt\n      lastLoginAt\n      appMetadata\n      tier { id name }\n      roles { id name }\n      sessions {\n        id\n        createdAt\n        lastUsedAt\n        expiresAt\n        ip\n        userAgent\n        readOnly\n        impersonationReason\n        impersonator { id username }\n      }\n      identities { id email provider { name } }\n      passkeys { id name createdAt lastUsedAt }\n      memberships {\n        id\n        organization { id name slug }\n        roles { name }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleUserKeys($id: ID!) {\n    apiKeys(userId: $id) { id name prefix permissions createdAt expiresAt lastUsedAt }\n  }\n"): (typeof documents)["\n  query ConsoleUserKeys($id: ID!) {\n    apiKeys(userId: $id) { id name prefix permissions createdAt expiresAt lastUsedAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleUserAudit($id: ID!) {\n    user(id: $id) {\n      id\n      auditEvents(first: 30) {\n        nodes { id action actorId impersonatorId createdAt changes ip actor { username } }\n      }\n    }\n  }\n"): (typeof documents)["\n  query ConsoleUserAudit($id: ID!) {\n    user(id: $id) {\n      id\n      auditEvents(first: 30) {\n        nodes { id action actorId impersonatorId createdAt changes ip actor { username } }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleSetStatus($id: ID!, $status: UserStatus!) {\n    setUserStatus(id: $id, status: $status) { id status isActive }\n  }\n"): (typeof documents)["\n  mutation ConsoleSetStatus($id: ID!, $status: UserStatus!) {\n    setUserStatus(id: $id, status: $status) { id status isActive }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleRevokeSessions($id: ID!) {\n    revokeUserSessions(id: $id)\n  }\n"): (typeof documents)["\n  mutation ConsoleRevokeSessions($id: ID!) {\n    revokeUserSessions(id: $id)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleUnlock($id: ID!) {\n    unlockUser(id: $id) { id }\n  }\n"): (typeof documents)["\n  mutation ConsoleUnlock($id: ID!) {\n    unlockUser(id: $id) { id }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleResetMfa($id: ID!) {\n    resetUserMfa(id: $id) { id mfaEnabled }\n  }\n"): (typeof documents)["\n  mutation ConsoleResetMfa($id: ID!) {\n    resetUserMfa(id: $id) { id mfaEnabled }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleErase($id: ID!) {\n    eraseUser(id: $id)\n  }\n"): (typeof documents)["\n  mutation ConsoleErase($id: ID!) {\n    eraseUser(id: $id)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleSendPasswordReset($id: ID!) {\n    sendPasswordReset(id: $id)\n  }\n"): (typeof documents)["\n  mutation ConsoleSendPasswordReset($id: ID!) {\n    sendPasswordReset(id: $id)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleResendInvitation($id: ID!) {\n    resendInvitation(id: $id)\n  }\n"): (typeof documents)["\n  mutation ConsoleResendInvitation($id: ID!) {\n    resendInvitation(id: $id)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleRevokeApiKey($id: ID!) {\n    revokeApiKey(id: $id)\n  }\n"): (typeof documents)["\n  mutation ConsoleRevokeApiKey($id: ID!) {\n    revokeApiKey(id: $id)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleImpersonate($id: ID!, $reason: String!, $readOnly: Boolean!, $ttlSeconds: Int!, $password: String!) {\n    impersonateUser(id: $id, reason: $reason, readOnly: $readOnly, ttlSeconds: $ttlSeconds, password: $password) {\n      accessToken\n      refreshToken\n      user { id username }\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleImpersonate($id: ID!, $reason: String!, $readOnly: Boolean!, $ttlSeconds: Int!, $password: String!) {\n    impersonateUser(id: $id, reason: $reason, readOnly: $readOnly, ttlSeconds: $ttlSeconds, password: $password) {\n      accessToken\n      refreshToken\n      user { id username }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleEndImpersonation {\n    endImpersonation\n  }\n"): (typeof documents)["\n  mutation ConsoleEndImpersonation {\n    endImpersonation\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleImpersonatedView {\n    me { id username name email status }\n    mySessions { id current readOnly impersonationReason expiresAt impersonator { username } }\n    mySecurityEvents(first: 10) { nodes { id action createdAt impersonatorId } }\n  }\n"): (typeof documents)["\n  query ConsoleImpersonatedView {\n    me { id username name email status }\n    mySessions { id current readOnly impersonationReason expiresAt impersonator { username } }\n    mySecurityEvents(first: 10) { nodes { id action createdAt impersonatorId } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleUpdateMyName($name: String!) {\n    updateMe(input: { name: $name }) { id name }\n  }\n"): (typeof documents)["\n  mutation ConsoleUpdateMyName($name: String!) {\n    updateMe(input: { name: $name }) { id name }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleAuditPage($first: Int!, $after: String) {\n    auditEvents(first: $first, after: $after) {\n      pageInfo { hasNextPage endCursor }\n      nodes { id action actorId targetId impersonatorId createdAt ip actor { username } target { id username } }\n    }\n  }\n"): (typeof documents)["\n  query ConsoleAuditPage($first: Int!, $after: String) {\n    auditEvents(first: $first, after: $after) {\n      pageInfo { hasNextPage endCursor }\n      nodes { id action actorId targetId impersonatorId createdAt ip actor { username } target { id username } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ConsoleAuditLive {\n    auditEvents { id action actorId targetId impersonatorId createdAt ip actor { username } target { id username } }\n  }\n"): (typeof documents)["\n  subscription ConsoleAuditLive {\n    auditEvents { id action actorId targetId impersonatorId createdAt ip actor { username } target { id username } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleRoles {\n    roles { id name description permissions isBuiltin }\n  }\n"): (typeof documents)["\n  query ConsoleRoles {\n    roles { id name description permissions isBuiltin }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleTiers {\n    tiers { id name description createdAt }\n  }\n"): (typeof documents)["\n  query ConsoleTiers {\n    tiers { id name description createdAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleOrganizations($first: Int!, $after: String, $search: String) {\n    organizations(first: $first, after: $after, search: $search) {\n      pageInfo { hasNextPage endCursor }\n      nodes { id name slug createdAt tier { name } }\n    }\n  }\n"): (typeof documents)["\n  query ConsoleOrganizations($first: Int!, $after: String, $search: String) {\n    organizations(first: $first, after: $after, search: $search) {\n      pageInfo { hasNextPage endCursor }\n      nodes { id name slug createdAt tier { name } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleWebhooks {\n    webhooks { id url description events enabled disabledReason createdAt }\n  }\n"): (typeof documents)["\n  query ConsoleWebhooks {\n    webhooks { id url description events enabled disabledReason createdAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleDeliveries($webhookId: ID!) {\n    webhookDeliveries(webhookId: $webhookId, first: 20) {\n      nodes { id eventType attempt succeeded statusCode error durationMs createdAt }\n    }\n  }\n"): (typeof documents)["\n  query ConsoleDeliveries($webhookId: ID!) {\n    webhookDeliveries(webhookId: $webhookId, first: 20) {\n      nodes { id eventType attempt succeeded statusCode error durationMs createdAt }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleRedeliver($deliveryId: ID!) {\n    redeliverWebhook(deliveryId: $deliveryId)\n  }\n"): (typeof documents)["\n  mutation ConsoleRedeliver($deliveryId: ID!) {\n    redeliverWebhook(deliveryId: $deliveryId)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleSigningKeys {\n    signingKeys { id kid algorithm state createdAt retiresAt }\n  }\n"): (typeof documents)["\n  query ConsoleSigningKeys {\n    signingKeys { id kid algorithm state createdAt retiresAt }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;