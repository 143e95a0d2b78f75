//! Installs rustls' `ring` crypto provider once, unless the host application has
//! installed one already.
//!
//! reqwest is built with `rustls-no-provider`, so it panics at client build time when
//! no process-wide [`rustls::crypto::CryptoProvider`] exists. [`HttpClient`] calls
//! [`ensure_crypto_provider`] before building its reqwest client; an application that
//! prefers another provider (aws-lc-rs, a FIPS build) installs it first and this
//! function leaves it alone.
//!
//! [`HttpClient`]: crate::HttpClient

/// Makes sure a process-wide rustls crypto provider is installed.
///
/// Installs `ring` when none is installed yet and returns `true` when this call did
/// the installing. Safe to call from many threads at once: when two race, one
/// installs and the other sees it installed.
pub fn ensure_crypto_provider() -> bool {
    if rustls::crypto::CryptoProvider::get_default().is_some() {
        return false;
    }
    // `install_default` fails only when another thread won the race; either way a
    // provider is installed afterwards.
    rustls::crypto::ring::default_provider()
        .install_default()
        .is_ok()
}
