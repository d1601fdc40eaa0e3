//! Data-subject requests (GDPR Art. 15/17/20): what was asked, by whom, by when, and how it ended.

use serde::{Deserialize, Serialize};

macro_rules! choice {
    ($(#[$meta:meta])* $name:ident ($what:literal) { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored or typed name; the error names the value and what is accepted.
            pub fn parse(text: &str) -> Result<$name, String> {
                match text.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "{} {other:?} is not one of {}",
                        $what,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

choice!(
    /// Access (a copy of everything about the person) or erasure.
    RequestKind ("request kind") { Access => "access", Erasure => "erasure" }
);
choice!(
    /// Where a request stands: `open -> in_progress -> done | rejected`.
    RequestStatus ("status") { Open => "open", InProgress => "in_progress", Done => "done", Rejected => "rejected" }
);
choice!(
    /// How a person is erased: their rows deleted, or their identity replaced by a pseudonym.
    ErasureStrategy ("strategy") { Delete => "delete", Anonymize => "anonymize" }
);
choice!(
    /// What `anonymize` does with the person's message bodies: keep them (scrubbed of
    /// email addresses and phone numbers, when scrubbing is on) or replace them.
    BodyMode ("body mode") { Keep => "keep", Redact => "redact" }
);

impl RequestStatus {
    /// Open and in-progress requests still have a deadline to meet.
    pub fn is_pending(self) -> bool {
        matches!(self, RequestStatus::Open | RequestStatus::InProgress)
    }
}

/// One data-subject request as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DsrRequest {
    pub id: i64,
    pub kind: RequestKind,
    /// What the request named the person by; replaced by a marker once they are erased.
    pub subject: String,
    /// chatkeep's id of the person, while their row exists.
    pub subject_user_id: Option<i64>,
    /// Which identifier found them: `external_id`, `email`, `phone` or `user_id`.
    pub matched_by: Option<String>,
    pub received_at: String,
    /// The last instant of the day the answer is due, in the configured time zone.
    pub due_at: String,
    pub status: RequestStatus,
    pub extended_reason: Option<String>,
    pub extended_at: Option<String>,
    pub rejected_reason: Option<String>,
    pub completed_at: Option<String>,
    pub artifact_path: Option<String>,
    pub artifact_sha256: Option<String>,
    pub erasure_strategy: Option<ErasureStrategy>,
    pub notes: Option<String>,
    /// An erasure's completion certificate (see `ops::gdpr::erase`).
    pub certificate: Option<serde_json::Value>,
}
