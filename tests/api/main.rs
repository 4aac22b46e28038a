//! The one integration-test binary: every test spawns the real service on a
//! fresh database and talks to it over HTTP.

mod accounts;
mod admin;
mod api_keys;
mod architecture;
mod audit;
mod authenticator;
mod authorization;
mod clients;
mod directory;
mod external;
mod helpers;
mod http;
mod invitations;
mod live;
mod login;
mod mailbox;
mod metadata;
mod mfa;
mod nodes;
mod operations;
mod passkeys;
mod profile;
mod provider;
mod recovery;
mod roles;
mod schema;
mod security;
mod seeds;
mod sessions;
mod sign_in_codes;
mod signing_keys;
mod statements;
mod tiers;
mod tokens;
mod webhooks;
