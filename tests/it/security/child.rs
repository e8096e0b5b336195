//! What a child inherits: no descriptor of ours, and an environment that is the allowlist
//! only.

use super::*;

#[test]
fn a_child_inherits_no_descriptor_of_the_registry_the_key_or_the_lock() {
    let s = Stage::new("");
    s.w.approved("ledger_done", "{}", "{}");
    s.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    s.run(&[]).ok();
    let calls = s.calls();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        // 0, 1, 2 and the script the shell reads, at least.
        assert!(call.fds.len() >= 3, "{call:?}");
        for fd in &call.fds {
            for secret in [
                "drafts.db",
                "hmac.key",
                "inbox-exec.lock",
                "thermal",
                "last-run",
            ] {
                assert!(
                    !fd.contains(secret),
                    "{} inherited a descriptor of {fd}: {:?}",
                    call.program,
                    call.fds
                );
            }
        }
    }
}

/// Variables a child must never see, set in inbox-exec's own environment.
const HOSTILE_ENV: [(&str, &str); 13] = [
    ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
    ("INBOX_EXEC_SMTP_PASSWORD", "smtp-secret"),
    ("LD_PRELOAD", "/nonexistent/libevil.so"),
    ("LD_LIBRARY_PATH", "/nonexistent"),
    ("BASH_ENV", "/nonexistent/bashrc"),
    ("ENV", "/nonexistent/shrc"),
    ("IFS", "/"),
    ("PYTHONPATH", "/nonexistent"),
    ("GITHUB_TOKEN", "github-token-not-allowlisted"),
    ("GH_ENTERPRISE_TOKEN", "ghe-token"),
    ("SSH_AUTH_SOCK", "/nonexistent/agent"),
    ("GIT_ASKPASS", "/nonexistent/askpass"),
    ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent"),
];

fn hostile(s: &Stage) -> Run {
    let mut run = s
        .run(&[])
        .env("GH_TOKEN", "gh-token")
        .env("GH_HOST", "github.com")
        .env("GH_CONFIG_DIR", "/nonexistent/gh")
        .env("EXTRA", "extra-value");
    for (k, v) in HOSTILE_ENV {
        run = run.env(k, v);
    }
    run
}

fn env_of(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[test]
fn gh_gets_only_path_home_and_its_allowlist() {
    let s = Stage::new("");
    s.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    hostile(&s).ok();
    let calls = s.calls_of("gh");
    assert_eq!(calls.len(), 1);
    let expected = env_of(&[
        ("PATH", s.path_var()),
        ("HOME", s.w.home.display().to_string()),
        ("GH_TOKEN", "gh-token".into()),
        ("GH_HOST", "github.com".into()),
        ("GH_CONFIG_DIR", "/nonexistent/gh".into()),
    ]);
    assert_eq!(calls[0].env, expected);
}

#[test]
fn a_command_handler_gets_only_path_home_and_its_own_allowlist() {
    let s = Stage::new("");
    s.w.approved("ledger_done", "{}", "{}");
    hostile(&s).ok();
    let calls = s.calls_of("ledger");
    assert_eq!(calls.len(), 1);
    let expected = env_of(&[
        ("PATH", s.path_var()),
        ("HOME", s.w.home.display().to_string()),
        ("EXTRA", "extra-value".into()),
    ]);
    assert_eq!(
        calls[0].env, expected,
        "GH_TOKEN goes to gh only, never to another handler"
    );
}

#[test]
fn sendmail_gets_a_fixed_path_and_nothing_else() {
    let s = Stage::new("");
    s.write_config(&format!(
        "[notify]\nsendmail = \"{}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\n",
        s.bin.join("sendmail").display()
    ));
    s.w.approved("social_post", "{}", "{}");
    hostile(&s).ok();
    let calls = s.calls_of("sendmail");
    assert_eq!(calls.len(), 1, "one alert, through sendmail");
    assert_eq!(
        calls[0].env,
        env_of(&[("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".into())])
    );
    assert_eq!(
        calls[0].argv,
        ["-i", "-f", "a@example.org", "--", "b@example.org"]
    );
}
