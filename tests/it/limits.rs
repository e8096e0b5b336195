//! Configuration values that would defeat the mechanism they configure are refused, with a
//! message naming the key and the file: a zero timeout claims every draft and kills its
//! handler at once, a zero cooldown turns the thermal cutout into alerts only, a zero TTL
//! refuses every draft, a zero `stuck_after` calls every draft in flight stuck.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::harness::World;

fn refused(w: &World, toml: &str, key: &str) {
    let config = w.path("config.toml");
    fs::write(&config, toml).expect("config");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod");
    for args in [&["status"][..], &["run"]] {
        let done = w.cmd(args).env("INBOX_EXEC_CONFIG", &config).output();
        assert_eq!(
            done.code,
            1,
            "{key} in\n{toml}\nwas accepted by `{}`: {done:?}",
            args.join(" ")
        );
        assert!(
            done.stderr.contains(&config.display().to_string()) && done.stderr.contains(key),
            "the refusal names the file and {key}:\n{}",
            done.stderr
        );
    }
}

#[test]
fn zero_and_sub_second_durations_are_refused_by_key_and_file() {
    let w = World::ready();
    let handler = "[handlers.ledger_done]\ncommand = [\"/bin/true\"]\n";
    for value in ["0s", "0ms", "500ms"] {
        refused(
            &w,
            &format!("[github]\ntimeout = \"{value}\"\n"),
            "[github] timeout",
        );
        refused(
            &w,
            &format!("{handler}timeout = \"{value}\"\n"),
            "[handlers.ledger_done] timeout",
        );
        refused(
            &w,
            &format!("[thermal]\ncooldown = \"{value}\"\n"),
            "[thermal] cooldown",
        );
        refused(
            &w,
            &format!("[thermal]\nwindow = \"{value}\"\n"),
            "[thermal] window",
        );
        refused(
            &w,
            &format!("[run]\nstuck_after = \"{value}\"\n"),
            "[run] stuck_after",
        );
        refused(&w, &format!("ttl = \"{value}\"\n"), "ttl");
        refused(
            &w,
            &format!(
                "[notify]\nsmtp_url = \"smtp://127.0.0.1:25\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\ntimeout = \"{value}\"\n"
            ),
            "[notify] timeout",
        );
    }
}

#[test]
fn a_stuck_after_not_longer_than_a_handler_timeout_is_refused() {
    let w = World::ready();
    // A draft whose handler may legitimately run 20 minutes would be called stuck at 10.
    refused(
        &w,
        "[handlers.ledger_done]\ncommand = [\"/bin/true\"]\ntimeout = \"20m\"\n",
        "[run] stuck_after",
    );
    refused(
        &w,
        "[github]\ntimeout = \"15m\"\n[run]\nstuck_after = \"5m\"\n",
        "[run] stuck_after",
    );
    refused(
        &w,
        "[github]\ntimeout = \"5m\"\n[run]\nstuck_after = \"5m\"\n",
        "[run] stuck_after",
    );
    // Longer is fine.
    let config = w.path("config.toml");
    fs::write(
        &config,
        "[github]\ntimeout = \"5m\"\n[run]\nstuck_after = \"6m\"\n",
    )
    .expect("config");
    w.cmd(&["status"]).env("INBOX_EXEC_CONFIG", &config).ok();
}
