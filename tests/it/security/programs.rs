//! What runs, and how: no shell anywhere, absolute handler commands, and where `gh` is
//! found (never in the working directory).

use super::*;

/// Every shell construct that would do something if a shell ever saw the text.
fn shell_bait(marker: &Path) -> String {
    let m = marker.display();
    format!(
        "$(touch {m})\n`touch {m}`\n; touch {m}\n| touch {m}\n&& touch {m} &\n> {m}\n\
         ' \" \\ $HOME ${{IFS}} * ~ # \t\r\n--repo evil/x --body-file /etc/passwd\néé\n"
    )
}

#[test]
fn shell_metacharacters_in_a_comment_body_reach_gh_byte_for_byte_and_run_nothing() {
    let s = Stage::new("");
    let marker = s.w.path("pwned");
    let body = shell_bait(&marker);
    let id = s.w.approved(
        "github_comment",
        TARGET,
        &json!({ "body": body }).to_string(),
    );
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed", "{doc}");
    let calls = s.calls_of("gh");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].argv, GH_ARGV, "the body never reaches argv");
    assert!(
        calls[0].stdin == body.as_bytes(),
        "stdin differs from the body:\n{:?}\n{body:?}",
        String::from_utf8_lossy(&calls[0].stdin)
    );
    assert!(!marker.exists(), "something interpreted the body");
}

#[test]
fn shell_metacharacters_in_a_command_handlers_draft_reach_it_as_json_and_run_nothing() {
    let s = Stage::new("");
    let marker = s.w.path("pwned");
    let bait = shell_bait(&marker);
    let target = json!({ "where": bait, "argv": ["--evil", "$(id)"] });
    let payload = json!({ "cmd": format!("; touch {}", marker.display()), "text": bait });
    let id =
        s.w.approved("ledger_done", &target.to_string(), &payload.to_string());
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed", "{doc}");
    let calls = s.calls_of("ledger");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].argv,
        ["--quiet"],
        "argv is the configured one, whatever the draft says"
    );
    let stdin: Value = serde_json::from_slice(&calls[0].stdin).expect("stdin is JSON");
    assert_eq!(stdin["target"], target);
    assert_eq!(stdin["payload"], payload);
    assert!(!marker.exists(), "something interpreted the draft");
}

#[test]
fn a_handler_whose_command_is_not_an_absolute_path_is_rejected_at_config_load() {
    let s = Stage::new("");
    let id = s.w.approved("ledger_done", "{}", "{}");
    for command in [
        r#"["ledger"]"#,
        r#"["./bin/ledger"]"#,
        r#"["bin/ledger"]"#,
        r#"[""]"#,
    ] {
        write_private(
            &s.config,
            &format!("[handlers.ledger_done]\ncommand = {command}\n"),
        );
        s.run(&[])
            .fails_with(&["[handlers.ledger_done]", "must start with an absolute path"]);
    }
    write_private(&s.config, "[handlers.ledger_done]\ncommand = []\n");
    s.run(&[]).fails_with(&["command is empty"]);
    assert_eq!(s.w.status(&id), "approved");
    assert!(s.calls().is_empty());
}

#[test]
fn no_source_file_starts_a_shell_and_only_the_child_runner_spawns_processes() {
    let mut spawners = Vec::new();
    for (file, text) in source_files() {
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for shell in [
                "sh -c",
                "/bin/sh",
                "bash -c",
                "\"-c\"",
                "\"sh\"",
                "\"bash\"",
                "SendmailTransport",
                "AsyncSendmailTransport",
            ] {
                assert!(
                    !code.contains(shell),
                    "{file}:{}: {shell:?} in {line:?}",
                    n + 1
                );
            }
            if code.contains("Command::new(") && !code.contains("clap::Command::new(") {
                spawners.push(format!("{file}:{}", n + 1));
            }
            assert!(
                !code.contains("process::Command") || file == "src/dispatch/child.rs",
                "{file}:{}: std::process::Command outside the child runner",
                n + 1
            );
        }
    }
    assert_eq!(spawners.len(), 1, "{spawners:?}");
    assert!(
        spawners[0].starts_with("src/dispatch/child.rs:"),
        "{spawners:?}"
    );
}

/// A `gh` whose running leaves `marker` behind: what an attacker plants.
fn planted_gh(path: &Path, marker: &Path) {
    fs::create_dir_all(path.parent().expect("parent")).expect("planted dir");
    script(path, &format!("#!/bin/sh\ntouch {}\n", marker.display()));
}

#[test]
fn a_relative_gh_path_is_resolved_against_the_config_files_directory_not_the_working_one() {
    let s = Stage::new("");
    // The intended gh: the stage's recording stand-in, next to the config file.
    let config_dir = s.config.parent().expect("config dir").to_owned();
    fs::create_dir_all(config_dir.join("tools")).expect("tools");
    fs::copy(s.bin.join("gh"), config_dir.join("tools/gh")).expect("copy gh");
    // Whoever can write the directory a run starts in plants `tools/gh` there.
    let cwd = s.w.path("cwd");
    let planted = cwd.join("planted-ran");
    planted_gh(&cwd.join("tools/gh"), &planted);
    s.write_config("[github]\ngh = \"tools/gh\"\n");
    let id = s.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    // The stand-ins' bin is off PATH: only the config's tools/gh can record a call.
    let mut run = s.run(&[]).env("PATH", "/usr/bin:/bin");
    run.cmd.current_dir(&cwd);
    let doc = run.ok().json();
    assert!(
        !planted.exists(),
        "the gh planted in the working directory ran"
    );
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed", "{doc}");
    let calls = s.calls_of("gh");
    assert_eq!(calls.len(), 1, "the config's tools/gh ran once");
    assert_eq!(calls[0].argv, GH_ARGV);
    assert_eq!(calls[0].stdin_text(), "hi");
}

#[test]
fn empty_and_relative_path_entries_never_find_gh_in_the_working_directory() {
    let s = Stage::new("");
    let cwd = s.w.path("cwd");
    let planted = cwd.join("planted-ran");
    planted_gh(&cwd.join("gh"), &planted);
    planted_gh(&cwd.join("tools/gh"), &planted);
    let id = s.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    // POSIX reads an empty PATH entry as the working directory, and a relative one against
    // it: both come before the intended gh here.
    let path = format!(":tools:.:{}", s.path_var());
    let mut run = s.run(&[]).env("PATH", &path);
    run.cmd.current_dir(&cwd);
    let doc = run.ok().json();
    assert!(
        !planted.exists(),
        "a gh planted in the working directory ran through PATH {path}"
    );
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed", "{doc}");
    let calls = s.calls_of("gh");
    assert_eq!(calls.len(), 1, "the intended gh, later on PATH, ran");
    assert_eq!(calls[0].argv, GH_ARGV);
}
