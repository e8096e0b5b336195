//! `draft new` and `approve` check a draft the way `run` will (kind and shape), with an
//! explicit override; `approve --subject` records who or what approved it.

use crate::harness::World;
use crate::stage::TARGET;

/// `draft new` with the world's key and registry.
fn draft_new(w: &World, kind: &str, target: &str, extra: &[&str]) -> crate::harness::Run {
    let mut args = vec![
        "draft",
        "new",
        "--kind",
        kind,
        "--target",
        target,
        "--payload",
        r#"{"body":"hi"}"#,
    ];
    args.extend_from_slice(extra);
    w.cmd(&args)
}

fn drafts(w: &World) -> String {
    w.query("SELECT count(*) FROM drafts")
}

#[test]
fn draft_new_refuses_what_run_would_refuse() {
    let w = World::ready();
    for (kind, target, why) in [
        ("force_push_shared", "{}", "non-delegable"),
        ("github_comment", "[1,2]", "target"),
        (
            "github_comment",
            r#"{"repo":"onlyname","issue":1}"#,
            "owner/name",
        ),
        (
            "github_comment",
            r#"{"repo":"octo-org/demo","issue":"1"}"#,
            "issue",
        ),
    ] {
        let done = draft_new(&w, kind, target, &[]).code(1);
        assert!(
            done.stderr.contains(why) && done.stderr.contains("--allow-unrunnable"),
            "{kind} {target}: the refusal does not say why or how to override:\n{}",
            done.stderr
        );
        assert_eq!(drafts(&w), "0", "{kind} {target} was inserted");
    }
    draft_new(&w, "github_comment", TARGET, &[]).ok();
    assert_eq!(drafts(&w), "1");
}

#[test]
fn allow_unrunnable_inserts_it_anyway_and_approve_checks_again() {
    let w = World::ready();
    let done = draft_new(&w, "force_push_shared", "{}", &["--allow-unrunnable"]).ok();
    assert!(
        done.stderr.contains("non-delegable"),
        "no warning for an override:\n{}",
        done.stderr
    );
    let id = done.stdout.trim().to_owned();
    let refused = w.cmd(&["approve", &id]).code(1);
    assert!(
        refused.stderr.contains("non-delegable") && refused.stderr.contains("--allow-unrunnable"),
        "{}",
        refused.stderr
    );
    assert_eq!(w.status(&id), "pending");
    w.cmd(&["approve", &id, "--allow-unrunnable"]).ok();
    assert_eq!(w.status(&id), "approved");
}

#[test]
fn approve_refuses_a_draft_whose_shape_its_handler_refuses() {
    let w = World::ready();
    let id = draft_new(
        &w,
        "github_comment",
        r#"{"repo":"onlyname","issue":1}"#,
        &["--allow-unrunnable"],
    )
    .ok()
    .stdout
    .trim()
    .to_owned();
    w.cmd(&["approve", &id])
        .fails_with(&["owner/name", "stays pending"]);
    assert_eq!(w.status(&id), "pending");
}

#[test]
fn approve_subject_is_recorded_as_the_approval_subject() {
    let w = World::ready();
    let id = draft_new(&w, "github_comment", TARGET, &[])
        .ok()
        .stdout
        .trim()
        .to_owned();
    w.cmd(&["approve", &id, "--subject", "alice via review #12"])
        .ok();
    assert_eq!(
        w.query(&format!(
            "SELECT approval_subject FROM drafts WHERE draft_id = '{id}'"
        )),
        "alice via review #12"
    );
    let shown = w.cmd(&["show", &id, "--json"]).ok().json();
    assert_eq!(shown["approval_subject"], "alice via review #12");
    // Without --subject the column stays as it was (NULL), as before.
    let other = draft_new(&w, "github_comment", TARGET, &[])
        .ok()
        .stdout
        .trim()
        .to_owned();
    w.cmd(&["approve", &other]).ok();
    assert_eq!(
        w.query(&format!(
            "SELECT coalesce(approval_subject, 'NULL') FROM drafts WHERE draft_id = '{other}'"
        )),
        "NULL"
    );
}
