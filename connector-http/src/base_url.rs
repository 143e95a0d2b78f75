//! Validation of the base URLs connectors are configured with.
//!
//! A base URL decides where credentials are sent, so every connector checks it the
//! same way with [`checked_base_url`]: https only (plain http only to loopback
//! addresses, for local fakes and tests), a host, no credentials in the URL, no
//! query or fragment.

use connector_core::error::clip;
use url::{Host, Url};

/// Checks a configured base URL and returns it without a trailing slash.
///
/// Accepted: `https://` URLs with a host; `http://` only for `localhost`,
/// `127.0.0.0/8` and `[::1]`. Refused: other schemes, plain http to any other host
/// (credentials would travel in clear), user info (`user:pass@`), a query or a
/// fragment.
///
/// # Errors
///
/// A message saying what is wrong, without the URL's user info; callers attach it
/// to the field it came from (`settings.base_url`).
///
/// ```
/// use connector_http::checked_base_url;
///
/// assert_eq!(checked_base_url("https://ghe.example.com/api/v3/").unwrap(), "https://ghe.example.com/api/v3");
/// assert!(checked_base_url("http://127.0.0.1:8080").is_ok());
/// assert!(checked_base_url("http://ghe.example.com").unwrap_err().contains("https"));
/// assert!(checked_base_url("https://bot:pw@ghe.example.com").unwrap_err().contains("credentials"));
/// ```
pub fn checked_base_url(raw: &str) -> Result<String, String> {
    let shown = connector_core::error::redact_url(raw.trim());
    let url = Url::parse(raw.trim())
        .map_err(|e| format!("`{}` is not a valid URL: {e}", clip(&shown, 80)))?;
    let loopback = match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(format!("`{}` has no host", clip(&shown, 80))),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "`{}` must use https: credentials would travel in clear (plain http is \
                 allowed only for localhost)",
                clip(&shown, 80)
            ));
        }
        other => return Err(format!("the scheme `{other}` is not allowed; use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry credentials; put them in `credentials`".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{}` must not have a query or fragment",
            clip(&shown, 80)
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::checked_base_url;

    #[test]
    fn accepts_https_and_loopback_http() {
        for (raw, want) in [
            ("https://api.github.com", "https://api.github.com"),
            (
                "https://ghe.example.com/api/v3/",
                "https://ghe.example.com/api/v3",
            ),
            (
                " https://acme.service-now.com ",
                "https://acme.service-now.com",
            ),
            ("http://127.0.0.1:41755/", "http://127.0.0.1:41755"),
            ("http://127.1.2.3", "http://127.1.2.3"),
            ("http://localhost:8080/x", "http://localhost:8080/x"),
            ("http://[::1]:9000", "http://[::1]:9000"),
        ] {
            assert_eq!(checked_base_url(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn refuses_what_would_leak_or_mislead() {
        for (raw, needle) in [
            ("http://ghe.example.com", "must use https"),
            ("http://10.0.0.5", "must use https"),
            ("ftp://files.example.com", "scheme `ftp`"),
            (
                "https://bot:hunter2@ghe.example.com",
                "must not carry credentials",
            ),
            ("https://api.example.com/?token=x", "must not have a query"),
            (
                "https://api.example.com/#frag",
                "must not have a query or fragment",
            ),
            ("not a url", "is not a valid URL"),
            ("unix:/var/run/x.sock", "has no host"),
        ] {
            let err = checked_base_url(raw).expect_err(raw);
            assert!(err.contains(needle), "{raw}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
