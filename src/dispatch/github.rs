//! The built-in `github_comment` handler: `gh issue comment <issue> --repo <owner/name>
//! --body-file -`, the body on stdin.

use std::time::Duration;

use serde_json::Value;

use super::child::{self, ChildEnv, Finished, Invocation};
use super::{Dispatched, Handler};
use crate::config::GithubConfig;
use crate::draft::Verified;

/// GitHub refuses longer comments; refusing here keeps the failure before the claim.
const MAX_BODY_CHARS: usize = 65_536;

/// The `github_comment` handler.
#[derive(Debug)]
pub(super) struct Github {
    config: GithubConfig,
    env: ChildEnv,
}

impl Github {
    pub(super) fn new(config: &GithubConfig, env: ChildEnv) -> Github {
        Github {
            config: config.clone(),
            env,
        }
    }
}

impl Handler for Github {
    fn check_shape(&self, draft: &Verified) -> Result<(), String> {
        target(&draft.target)?;
        body(&draft.payload)?;
        Ok(())
    }

    fn prepare(&self, draft: &Verified) -> Result<Invocation, String> {
        let (repo, issue) = target(&draft.target)?;
        let body = body(&draft.payload)?;
        let program = self.env.resolve(&self.config.gh)?;
        Ok(Invocation {
            program,
            args: [
                "issue",
                "comment",
                &issue.to_string(),
                "--repo",
                repo,
                "--body-file",
                "-",
            ]
            .map(Into::into)
            .to_vec(),
            env: self.env.allow(&self.config.env),
            stdin: body.as_bytes().to_vec(),
            timeout: self.config.timeout,
        })
    }

    fn outcome(&self, finished: &Finished, timeout: Duration) -> Dispatched {
        if !finished.success() {
            return Dispatched {
                ok: false,
                executed_url: None,
                reason: Some(finished.failure_reason("gh issue comment", timeout)),
            };
        }
        let url = child::last_line(&finished.stdout)
            .filter(|l| l.starts_with("https://"))
            .map(str::to_owned);
        if url.is_none() {
            log::warn!("gh issue comment succeeded but printed no https:// URL");
        }
        Dispatched {
            ok: true,
            executed_url: url,
            reason: None,
        }
    }
}

/// `{"repo": "owner/name", "issue": <positive int>}`. The repo must be exactly two plain
/// segments: `gh` also takes `HOST/owner/name`, which would send the token to another host,
/// and a leading `-` would read as an option.
fn target(target: &Value) -> Result<(&str, u64), String> {
    let bad = |why: &str| Err(format!("github_comment target {why}"));
    let Some(obj) = target.as_object() else {
        return bad("must be an object {\"repo\": \"owner/name\", \"issue\": N}");
    };
    let Some(repo) = obj.get("repo").and_then(Value::as_str) else {
        return bad("needs \"repo\": \"owner/name\"");
    };
    if !valid_repo(repo) {
        return Err(format!(
            "github_comment target repo {repo:?} is not owner/name (letters, digits, '-', '_', '.')"
        ));
    }
    let issue = match obj.get("issue") {
        Some(Value::Number(n)) if !n.as_str().contains(['.', 'e', 'E']) => n.as_u64(),
        _ => None,
    };
    match issue {
        Some(n) if n > 0 => Ok((repo, n)),
        _ => bad("needs \"issue\": a positive integer"),
    }
}

fn valid_repo(repo: &str) -> bool {
    let Some((owner, name)) = repo.split_once('/') else {
        return false;
    };
    let segment = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && !s.starts_with(['-', '.'])
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    segment(owner) && segment(name)
}

fn body(payload: &Value) -> Result<&str, String> {
    let Some(body) = payload.get("body").and_then(Value::as_str) else {
        return Err("github_comment payload needs \"body\": a non-empty string".into());
    };
    if body.trim().is_empty() {
        return Err("github_comment payload body is empty".into());
    }
    if body.contains('\0') {
        return Err("github_comment payload body contains a NUL byte".into());
    }
    let chars = body.chars().count();
    if chars > MAX_BODY_CHARS {
        return Err(format!(
            "github_comment payload body has {chars} characters; GitHub takes at most {MAX_BODY_CHARS}"
        ));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repos_must_be_plain_owner_slash_name() {
        for good in ["octo-org/demo", "a/b", "o_o/x.y-z"] {
            assert!(valid_repo(good), "{good}");
        }
        for bad in [
            "--help",
            "-o/x",
            "host/owner/name",
            "owner",
            "/x",
            "o/",
            "o/..",
            "o w/x",
            "o/x?y",
        ] {
            assert!(!valid_repo(bad), "{bad}");
        }
    }

    #[test]
    fn issues_are_positive_integers() {
        assert!(target(&json!({"repo": "a/b", "issue": 1})).is_ok());
        for issue in [json!(0), json!(-1), json!(1.0), json!("1"), json!(null)] {
            assert!(
                target(&json!({"repo": "a/b", "issue": issue})).is_err(),
                "{issue}"
            );
        }
        assert!(target(&json!("a/b#1")).is_err());
    }

    #[test]
    fn bodies_must_be_non_empty_text_without_nul() {
        assert!(body(&json!({"body": "hi"})).is_ok());
        for p in [
            json!({}),
            json!({"body": ""}),
            json!({"body": "  "}),
            json!({"body": 3}),
            json!({"body": "a\u{0}b"}),
            json!("x"),
        ] {
            assert!(body(&p).is_err(), "{p}");
        }
        let long = "x".repeat(MAX_BODY_CHARS + 1);
        assert!(body(&json!({ "body": long })).is_err());
    }
}
