//! Why a delivery was rejected.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use crate::error::{ConnectorError, ErrorKind};

/// Why verification rejected a delivery. Decide on this, never on the message.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionReason {
    /// A header the scheme requires is absent.
    MissingHeader,
    /// A header is present but cannot be parsed (bad prefix, bad hex or base64,
    /// wrong length, a timestamp that is not a number, no signature of a known
    /// version).
    MalformedHeader,
    /// No signature (or token) matches the body under any configured secret.
    SignatureMismatch,
    /// The signed timestamp is older than the tolerance allows: a replay, or a
    /// delivery queued too long.
    TimestampTooOld,
    /// The signed timestamp is further in the future than the tolerance allows:
    /// a clock problem on one side, or a forged timestamp.
    TimestampInFuture,
}

impl RejectionReason {
    /// A short snake_case name (`signature_mismatch`), for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionReason::MissingHeader => "missing_header",
            RejectionReason::MalformedHeader => "malformed_header",
            RejectionReason::SignatureMismatch => "signature_mismatch",
            RejectionReason::TimestampTooOld => "timestamp_too_old",
            RejectionReason::TimestampInFuture => "timestamp_in_future",
        }
    }

    /// The HTTP status a receiver should answer with: 400 for a missing or
    /// malformed header (the request is not a delivery of this scheme), 401 for
    /// everything else (it claims to be one and fails authentication).
    pub fn http_status(self) -> u16 {
        match self {
            RejectionReason::MissingHeader | RejectionReason::MalformedHeader => 400,
            RejectionReason::SignatureMismatch
            | RejectionReason::TimestampTooOld
            | RejectionReason::TimestampInFuture => 401,
        }
    }

    /// The [`ErrorKind`] of the [`ConnectorError`] this becomes:
    /// [`Protocol`](ErrorKind::Protocol) for a missing or malformed header,
    /// [`Auth`](ErrorKind::Auth) for a signature or timestamp failure.
    pub fn error_kind(self) -> ErrorKind {
        match self.http_status() {
            400 => ErrorKind::Protocol,
            _ => ErrorKind::Auth,
        }
    }
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected delivery: the reason, the header concerned and what was wrong.
///
/// It never holds a secret or a computed signature: only the header name and a
/// description of the problem. It converts into a [`ConnectorError`] (kind from
/// [`RejectionReason::error_kind`], operation `webhook_verify`, the header in the
/// context, itself as the source) and can be found again with
/// [`Rejection::of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    reason: RejectionReason,
    header: Cow<'static, str>,
    detail: Cow<'static, str>,
}

impl Rejection {
    /// A rejection of `reason` concerning `header`, with a detail saying what was wrong.
    pub fn new(
        reason: RejectionReason,
        header: impl Into<Cow<'static, str>>,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            reason,
            header: header.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn missing(header: &'static str) -> Self {
        Self::new(
            RejectionReason::MissingHeader,
            header,
            "the header is missing",
        )
    }

    pub(crate) fn malformed(header: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RejectionReason::MalformedHeader, header, detail)
    }

    pub(crate) fn mismatch(header: &'static str) -> Self {
        Self::new(
            RejectionReason::SignatureMismatch,
            header,
            "no signature matches the body under any configured secret",
        )
    }

    /// Why.
    pub fn reason(&self) -> RejectionReason {
        self.reason
    }

    /// The header concerned (`X-Hub-Signature-256`).
    pub fn header(&self) -> &str {
        &self.header
    }

    /// What was wrong, in words.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The HTTP status to answer with (see [`RejectionReason::http_status`]).
    pub fn http_status(&self) -> u16 {
        self.reason.http_status()
    }

    /// The rejection inside `error`, when `error` came from one.
    pub fn of(error: &ConnectorError) -> Option<&Rejection> {
        let mut source: Option<&(dyn StdError + 'static)> = error.source();
        while let Some(s) = source {
            if let Some(r) = s.downcast_ref::<Rejection>() {
                return Some(r);
            }
            source = s.source();
        }
        None
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "webhook rejected ({}): `{}`: {}",
            self.reason, self.header, self.detail
        )
    }
}

impl StdError for Rejection {}

impl From<Rejection> for ConnectorError {
    fn from(rejection: Rejection) -> Self {
        ConnectorError::new(rejection.reason.error_kind(), rejection.to_string())
            .with_operation("webhook_verify")
            .with_context("header", rejection.header.clone())
            .with_context("rejection", rejection.reason.as_str())
            .with_source(rejection)
    }
}
