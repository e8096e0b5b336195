//! Who may own or read the config, the key and the SMTP password file.

use super::*;

#[test]
fn a_key_owned_by_another_user_is_refused() {
    if !is_root() {
        skip(
            "a_key_owned_by_another_user_is_refused",
            "root",
            "only root can give a file to another user",
        );
        return;
    }
    let s = Stage::new("");
    let id = s.w.approved("ledger_done", "{}", "{}");
    std::os::unix::fs::chown(&s.w.key, Some(65534), Some(65534)).expect("chown");
    s.run(&[])
        .fails_with(&["owned by uid 65534", "not by the user running inbox-exec"]);
    assert_eq!(s.w.status(&id), "approved");
    assert!(s.calls().is_empty());
}

#[test]
fn a_group_writable_config_is_refused_before_anything_runs() {
    let s = Stage::new("");
    let id = s.w.approved("ledger_done", "{}", "{}");
    for m in [0o620, 0o602, 0o660] {
        fs::set_permissions(&s.config, fs::Permissions::from_mode(m)).expect("chmod");
        s.run(&[])
            .fails_with(&["writable by group or others", "chmod go-w"]);
    }
    assert_eq!(s.w.status(&id), "approved");
    assert!(s.calls().is_empty());
    // Readable by others is fine: nothing in it is a secret.
    fs::set_permissions(&s.config, fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(
        outcome_of(&s.run(&[]).ok().json(), &id)["outcome"],
        "executed"
    );
}

#[test]
fn a_config_owned_by_another_user_is_refused() {
    if !is_root() {
        skip(
            "a_config_owned_by_another_user_is_refused",
            "root",
            "only root can give a file to another user",
        );
        return;
    }
    let s = Stage::new("");
    let id = s.w.approved("ledger_done", "{}", "{}");
    // Mode 0644, but its owner (nobody) can chmod it and rewrite it: choose our handlers.
    fs::set_permissions(&s.config, fs::Permissions::from_mode(0o644)).expect("chmod");
    std::os::unix::fs::chown(&s.config, Some(65534), Some(65534)).expect("chown");
    let out = s.run(&[]).output();
    assert_eq!(
        out.code, 1,
        "a config another user owns was accepted:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr.contains(&s.config.display().to_string()),
        "{}",
        out.stderr
    );
    assert_eq!(s.w.status(&id), "approved");
    assert!(s.calls().is_empty());
}

#[test]
fn an_smtp_password_file_others_can_read_is_not_used() {
    let s = Stage::new("");
    let pass = s.w.path("smtp.pass");
    fs::write(&pass, "LoosePw-3f0a\n").expect("password");
    fs::set_permissions(&pass, fs::Permissions::from_mode(0o644)).expect("chmod");
    // A server that offers AUTH and would take either password.
    let server = AuthSmtpServer::start(Some("LoosePw-3f0a"));
    s.write_config(&format!(
        "[notify]\nsmtp_url = \"{}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\nusername = \"alice\"\npassword_file = \"{}\"\ntimeout = \"5s\"\n",
        server.url(),
        pass.display()
    ));
    let id = s.w.approved("social_post", "{}", "{}");
    let out = s
        .run(&[])
        .env("INBOX_EXEC_SMTP_PASSWORD", "EnvPw-9c1d")
        .ok();
    assert_eq!(outcome_of(&out.json(), &id)["outcome"], "execute_failed");
    assert_eq!(
        server.logins(),
        [],
        "no AUTH: neither the loose file's password nor the environment's was sent"
    );
    let pass_name = pass.display().to_string();
    for fragment in [
        "SMTP password file",
        pass_name.as_str(),
        "accessible by group or others",
        "chmod 600",
        "without a password",
        // The server requires AUTH, so the password-less alert is refused: proof it was sent.
        "cannot send alert",
    ] {
        assert!(
            out.stderr.contains(fragment),
            "stderr should mention {fragment:?}:\n{}",
            out.stderr
        );
    }
    for secret in ["LoosePw-3f0a", "EnvPw-9c1d"] {
        assert!(!out.stderr.contains(secret), "{}", out.stderr);
    }
}
