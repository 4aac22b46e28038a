//! `TotpEnrollment`: what enrolling a second factor hands the user, once.

use async_graphql::SimpleObject;

/// What an authenticator app needs, shown once by `enrollTotp`.
#[derive(SimpleObject)]
pub struct TotpEnrollment {
    /// The secret in base32, for typing into the app.
    pub secret: String,
    /// An `otpauth://totp/…` URI (issuer, account, SHA-1, 6 digits, 30 s).
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document to show as is.
    pub qr_code_svg: String,
}
