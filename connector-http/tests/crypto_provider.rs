//! Building a client in a fresh process, where nothing has installed a rustls
//! crypto provider yet, works: connector-http installs `ring` itself.
//!
//! This is its own test binary (its own process) and does nothing before the
//! build, so no other test can have installed a provider first.

#[test]
fn building_a_client_installs_the_ring_provider_once() {
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "nothing may install a provider before this test"
    );
    let client = connector_http::HttpClient::builder("https://api.example.com").build();
    assert!(client.is_ok(), "{client:?}");
    assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    // A second client reuses the installed provider.
    assert!(!connector_http::tls::ensure_crypto_provider());
    assert!(
        connector_http::HttpClient::builder("https://api.example.com")
            .build()
            .is_ok()
    );
}
