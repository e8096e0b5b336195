//! What someone who can write the registry (but cannot read the key) can and cannot do:
//! the limits SECURITY.md admits, and the thermal pause they cannot lift.

use super::*;

#[test]
fn limit_a_registry_writer_can_approve_a_signed_pending_draft_without_the_approve_command() {
    let s = Stage::new("");
    let id = s.w.draft("ledger_done", "{}", "{}");
    // Approval is a status column, not a signature: one UPDATE is an approval.
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{id}'"
    ));
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed");
    assert_eq!(s.calls().len(), 1);
}

#[test]
fn limit_a_registry_writer_can_replay_a_completed_draft_but_only_within_its_ttl() {
    let s = Stage::new("");
    let issued = (inbox_exec::unix_now() - 120).to_string();
    let mut args = draft_new_args("ledger_done").to_vec();
    args.extend(["--issued-at", &issued]);
    let id = s.w.cmd(&args).ok().stdout.trim().to_owned();
    s.w.cmd(&["approve", &id]).ok();
    assert_eq!(
        outcome_of(&s.run(&[]).ok().json(), &id)["outcome"],
        "executed"
    );
    let reset = format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{id}';
         DELETE FROM attempts WHERE draft_id = '{id}';
         DELETE FROM claims WHERE draft_id = '{id}';"
    );
    // Within the TTL the signature still holds, and the history was the writer's to erase.
    s.w.sql(&reset);
    assert_eq!(
        outcome_of(&s.run(&[]).ok().json(), &id)["outcome"],
        "executed"
    );
    assert_eq!(s.calls().len(), 2, "the side effect happened twice");
    // Past the TTL (here 60 s, the draft being 120 s old) the replay is refused.
    s.w.sql(&reset);
    let doc = s.run(&[]).env("INBOX_EXEC_TTL", "60s").ok().json();
    assert_eq!(
        outcome_of(&doc, &id)["reason"],
        "draft expired (TTL elapsed)"
    );
    assert_eq!(s.calls().len(), 2);
}

#[test]
fn a_registry_writer_cannot_lift_the_thermal_pause_by_erasing_or_forging_attempts() {
    let s = Stage::new("[thermal]\nmax_actions = 1\nwindow = \"15m\"\ncooldown = \"5m\"\n");
    s.w.approved("ledger_done", "{}", r#"{"n":1}"#);
    s.w.approved("ledger_done", "{}", r#"{"n":2}"#);
    let doc = s.run(&[]).ok().json();
    assert!(doc["paused_until"].is_i64(), "the cutout tripped: {doc}");
    // The sidecar lives in the state directory, out of the registry writer's reach.
    s.w.sql("DELETE FROM attempts; DELETE FROM claims;");
    let next = s.w.approved("ledger_done", "{}", r#"{"n":3}"#);
    assert_eq!(s.run(&[]).ok().json()["status"], "paused");
    // A forged attempt newer than the sidecar makes it look stale: the window is rebuilt
    // from the table, and the pause it recorded is kept.
    s.w.sql(&format!(
        "INSERT INTO attempts (attempt_id, draft_id, kind, outcome, attempted_at)
         VALUES (999999, '{next}', 'verify', 'ok', 0)"
    ));
    assert_eq!(s.run(&[]).ok().json()["status"], "paused");
    assert_eq!(s.w.status(&next), "approved");
    assert_eq!(s.calls().len(), 2);
}

#[test]
fn a_registry_writer_cannot_empty_the_thermal_window_by_erasing_attempts() {
    let s = Stage::new("[thermal]\nmax_actions = 1\nwindow = \"15m\"\ncooldown = \"5m\"\n");
    s.w.approved("ledger_done", "{}", r#"{"n":1}"#);
    let doc = s.run(&[]).ok().json();
    assert!(
        doc.get("paused_until").is_none(),
        "one action is the limit: {doc}"
    );
    // Erased from the registry, the action is still in the sidecar's window: the next one
    // makes two, over the limit.
    s.w.sql("DELETE FROM attempts; DELETE FROM claims;");
    let next = s.w.approved("ledger_done", "{}", r#"{"n":2}"#);
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &next)["outcome"], "executed");
    assert!(
        doc["paused_until"].is_i64(),
        "the erased action no longer counted: {doc}"
    );
}

/// A power loss while a save writes into the sidecar's spare, before the previous save's
/// swap of the two names reached the disk, leaves the sidecar's name on a half-written file
/// and the previous window at the spare's name (`statefile::write_with_spare`). The run then
/// loads that copy: an action a registry writer erased still counts.
#[test]
fn a_torn_sidecar_falls_back_to_its_spare_and_an_erased_action_still_counts() {
    let s = Stage::new("[thermal]\nmax_actions = 1\nwindow = \"15m\"\ncooldown = \"5m\"\n");
    s.w.approved("ledger_done", "{}", r#"{"n":1}"#);
    s.run(&[]).ok();
    let sidecar = s.w.state.join("thermal.json");
    let spare = s.w.state.join(".thermal.json.spare");
    fs::copy(&sidecar, &spare).expect("the previous save's file");
    fs::set_permissions(&spare, fs::Permissions::from_mode(0o600)).expect("mode");
    let whole = fs::read(&sidecar).expect("sidecar");
    fs::write(&sidecar, &whole[..whole.len() / 2]).expect("torn");
    s.w.sql("DELETE FROM attempts; DELETE FROM claims;");

    let next = s.w.approved("ledger_done", "{}", r#"{"n":2}"#);
    let out = s.run(&[]).ok();

    assert_eq!(outcome_of(&out.json(), &next)["outcome"], "executed");
    assert!(
        out.json()["paused_until"].is_i64(),
        "the action in the spare no longer counted: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains("used the copy saved before it"),
        "{}",
        out.stderr
    );
}

/// SQLite lets a writer store a blob where a draft id belongs. Such a row cannot be looked up
/// by id: it is ended by its row key, and no attempt is recorded under a made-up id (an
/// attempt needs a draft id to belong to); the drafts after it still run.
#[test]
fn a_row_whose_draft_id_is_not_text_is_ended_and_leaves_no_attempt_under_a_made_up_id() {
    let s = Stage::new("");
    let planted = s.w.approved("ledger_done", "{}", r#"{"n":0}"#);
    s.w.sql(&format!(
        "UPDATE drafts SET draft_id = X'0102' WHERE draft_id = '{planted}';
         DELETE FROM attempts WHERE draft_id = '{planted}';"
    ));
    let good = s.ledger(1).remove(0);
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &good)["outcome"], "executed");
    assert_eq!(
        s.w.query("SELECT status FROM drafts WHERE typeof(draft_id) = 'blob'"),
        "completed_with_error"
    );
    assert_eq!(
        s.w.query(&format!(
            "SELECT count(*) FROM attempts WHERE draft_id <> '{good}'"
        )),
        "0",
        "an attempt was recorded for the row without a text id:\n{}",
        s.w.dump()
    );
}
