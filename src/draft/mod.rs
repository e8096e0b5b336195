//! Drafts: the v1 canonical form, the signature, verification and the HMAC keys.

pub mod canonical;
pub mod json;
pub mod keys;
pub mod record;
pub mod sign;

pub use keys::{KeyError, KeyRing};
pub use record::{SqlValue, StoredDraft};
pub use sign::{Signed, Verified, VerifyError, content_hash, sign, verify};

/// The only draft schema this program reads and writes.
pub const SCHEMA_VERSION: &str = "v1";

/// The built-in kind: a comment on a GitHub issue, through `gh` (its handler is
/// `dispatch/github.rs`, its settings the config's `[github]`).
pub const GITHUB_COMMENT: &str = "github_comment";

/// Kinds refused whatever the configuration says: they need fresh attestation through
/// another channel than an approval in the registry (DESIGN.md §4).
pub const NON_DELEGABLE_KINDS: [&str; 10] = [
    "force_push_shared",
    "ruleset_disable",
    "account_switch",
    "cross_account_ops",
    "irreversible_capital_commit",
    "constitutional_rewrite",
    "authority_class_expansion",
    "venture_kill",
    "permission_escalation",
    "public_truth_claim",
];
