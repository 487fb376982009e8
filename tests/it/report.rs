//! JUnit output and sequence diagrams, on real runs and on hand-made summaries and traces.
//!
//! The JUnit schema is `tests/fixtures/junit-10.xsd`: the Jenkins xUnit plugin's JUnit schema
//! (jenkinsci/xunit-plugin, src/main/resources/org/jenkinsci/plugins/xunit/types/model/xsd/
//! junit-10.xsd; MIT licence, © 2014 Gregory Boissinot, notice kept in the file), as pytest ships
//! it in its source distribution (pytest 9.2.0, testing/example_scripts/junit-10.xsd) to validate
//! its own JUnit output. It is checked with `xmllint` (Debian: libxml2-utils; `.ci/run` installs
//! it); without `xmllint` the schema tests say they were skipped and why.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use settle::check::{Coverage, Finding, InvariantKind, Sometimes, Violation};
use settle::report::diagram::{Lane, Lanes, escape_mermaid, html, mermaid};
use settle::report::junit;
use settle::scenario::{Expect, SeedSelection, Summary, Verdict, replay_command, run_one};
use settle::sim::{Event, Kind, fmt_ms};
use settle::store::{shared, sqlite::Sqlite};
use settle::systems::{ActorInfo, Role};

use super::{load, run};

// ---- JUnit ----

fn summary(name: &str, verdict: Verdict) -> Summary {
    Summary {
        name: name.into(),
        path: format!("scenarios/{name}.toml"),
        system: "midtrans-orders".into(),
        expect: Expect::pass(),
        selection: SeedSelection::Range { start: 0, count: 200 },
        shard: None,
        budget_spent: false,
        first_choices: Vec::new(),
        shrunk: None,
        seeds_run: 200,
        violating_seeds: 0,
        per_invariant: BTreeMap::new(),
        first_seed: None,
        first_violation: None,
        coverage: Coverage::new(vec![Sometimes {
            mark: "fault:partition".into(),
            doc: "a partition refused a message".into(),
        }]),
        events: 40_000,
        elapsed_s: 0.25,
        verdict,
        program: "settle".into(),
    }
}

/// The lanes of seed 001's actors, as its system declares them.
fn seed001_lanes() -> Lanes {
    Lanes::of(&load("seed001_race.toml").build_system().unwrap().info().actors)
}

/// Details that need XML escaping, an ANSI colour and a control character.
const NASTY: &str = "ZVR-1: <order> & \"quoted\" 'single' ]]> \u{1b}[31mred\u{1b}[0m bell\u{7} ok";

/// One summary of each verdict, the failing ones with details that need escaping.
fn hand_made() -> Vec<Summary> {
    let violation = Violation::from_findings(
        "order-payment-agree",
        InvariantKind::Always,
        53_564,
        vec![Finding::about("ZVR-1", NASTY), Finding::about("ZVR-2", "ZVR-2: order PAID, payment PENDING")],
    );
    let mut unexpected = summary("fixed-but-broken", Verdict::UnexpectedViolation);
    unexpected.violating_seeds = 3;
    unexpected.per_invariant.insert("order-payment-agree".into(), 3);
    unexpected.first_seed = Some(17);
    unexpected.first_violation = Some(violation);
    let mut not_found = summary("flaw-not-caught", Verdict::ExpectedNotFound);
    not_found.expect = Expect::violation("provider-paid-implies-paid");
    let vacuous = summary("never-partitioned", Verdict::Vacuous(vec!["fault:partition".into()]));
    vec![summary("fine", Verdict::Met), unexpected, not_found, vacuous]
}

/// Validates `xml` against the JUnit schema: `Some(Ok)` valid, `Some(Err(why))` invalid,
/// `None` when `xmllint` is not installed.
pub(super) fn xmllint(xml: &str, name: &str) -> Option<Result<(), String>> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("{name}-{}.xml", std::process::id()));
    std::fs::write(&file, xml).expect("write the report");
    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit-10.xsd");
    let out = match Command::new("xmllint").arg("--noout").arg("--schema").arg(&schema).arg(&file).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("xmllint: {e}"),
    };
    let _ = std::fs::remove_file(&file);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    Some(if out.status.success() { Ok(()) } else { Err(said) })
}

pub(super) fn skipped_without_xmllint() {
    super::skip(
        "xmllint not found (Debian package libxml2-utils; .ci/run installs it), so the JUnit output was not validated against tests/fixtures/junit-10.xsd",
    );
}

#[test]
fn junit_of_every_verdict_validates_against_the_jenkins_schema() {
    let all_passing = vec![summary("fine", Verdict::Met), summary("also-fine", Verdict::Met)];
    for (name, set) in [("junit-passing", all_passing), ("junit-hand-made", hand_made())] {
        let xml = junit::render(&set);
        match xmllint(&xml, name) {
            None => return skipped_without_xmllint(),
            Some(result) => result.unwrap_or_else(|why| panic!("invalid JUnit:\n{why}\n{xml}")),
        }
    }
}

#[test]
fn junit_of_real_runs_validates_against_the_jenkins_schema() {
    let met = run("seed001_race.toml", Some(30));
    assert!(met.verdict.ok(), "{:?}", met.verdict);
    let expect_pass = |t: String| {
        t.replace("outcome = \"violation\"", "outcome = \"pass\"")
            .replace("invariant = \"provider-paid-implies-paid\"", "")
    };
    // As `settle run` does it: the first failure is shrunk.
    let broken = {
        let text =
            std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/seed001_race.toml"))
                .unwrap();
        let s = settle::scenario::parse(&expect_pass(text), "seed001_race.toml").unwrap();
        let opts = settle::scenario::RunOptions {
            shrink: Some(settle::scenario::shrink::Budget::default()),
            ..settle::scenario::RunOptions::default()
        };
        let seeds = SeedSelection::Range { start: 0, count: 30 };
        let embedded = &settle::scenario::Backends::Embedded;
        settle::scenario::run_scenario_opts(
            &s,
            s.build_system().unwrap().as_ref(),
            "seed001_race.toml",
            seeds,
            embedded,
            &opts,
        )
        .unwrap()
    };
    assert_eq!(broken.verdict, Verdict::UnexpectedViolation);
    assert!(broken.shrunk.is_some(), "run shrinks the first failure");
    let xml = junit::render(&[met, broken]);
    assert!(xml.contains(r#"tests="2" failures="1""#), "{xml}");
    assert!(xml.contains(&replay_command("seed001_race.toml", 26)), "{xml}");
    // The failure carries the shrunk race itself, not just where to find it.
    assert!(xml.contains(" step(s) that matter (of "), "{xml}");
    assert!(xml.contains("answering 200 anyway (ack-missing)"), "{xml}");
    match xmllint(&xml, "junit-real") {
        None => skipped_without_xmllint(),
        Some(result) => result.unwrap_or_else(|why| panic!("invalid JUnit:\n{why}\n{xml}")),
    }
}

/// The schema check can fail: a test case without its required name is rejected.
#[test]
fn the_schema_check_rejects_an_invalid_report() {
    let xml = junit::render(&hand_made()).replace("<testcase name=\"fine\"", "<testcase");
    match xmllint(&xml, "junit-invalid") {
        None => skipped_without_xmllint(),
        Some(result) => assert!(result.is_err(), "xmllint accepted a test case without a name"),
    }
}

#[test]
fn junit_failures_say_what_went_wrong_and_how_to_reproduce_it() {
    let xml = junit::render(&hand_made());
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("quick-junit reads its output back");
    let cases = &report.test_suites[0].test_cases;
    assert_eq!(cases.len(), 4);
    let failure = |i: usize| match &cases[i].status {
        quick_junit::TestCaseStatus::NonSuccess { message, ty, description, .. } => (
            message.as_ref().unwrap().as_str().to_string(),
            ty.as_ref().unwrap().as_str().to_string(),
            description.as_ref().unwrap().as_str().to_string(),
        ),
        other => panic!("case {i} did not fail: {other:?}"),
    };
    assert!(matches!(cases[0].status, quick_junit::TestCaseStatus::Success { .. }));
    assert_eq!(cases[0].classname.as_ref().unwrap().as_str(), "scenarios/fine.toml");
    let (message, ty, body) = failure(1);
    assert_eq!(ty, "unexpected-violation");
    assert_eq!(message, "unexpected violation of order-payment-agree (3 of 200 seeds)");
    assert!(body.contains("replay: settle replay scenarios/fixed-but-broken.toml --seed 17"), "{body}");
    assert!(body.contains("first seed 17: always `order-payment-agree` at 00:00:53.564"), "{body}");
    // Escaped on the way out and read back intact; the ANSI colour and the bell are dropped.
    assert!(body.contains("ZVR-1: <order> & \"quoted\" 'single' ]]> red bell ok"), "{body}");
    let (message, ty, body) = failure(2);
    assert_eq!(ty, "expected-violation-not-found");
    assert_eq!(message, "expected violation of provider-paid-implies-paid not found in 200 seed(s)");
    assert!(body.contains("rerun: settle run scenarios/flaw-not-caught.toml --seed-start 0 --seeds 200"), "{body}");
    let (message, ty, body) = failure(3);
    assert_eq!(ty, "vacuous");
    assert_eq!(message, "vacuous: faults never exercised: fault:partition");
    assert!(body.contains("never exercised: fault:partition: a partition refused a message"), "{body}");
    let out = cases[0].system_out.as_ref().unwrap().as_str();
    assert!(out.starts_with("seeds 200  violating 0  800 seeds/s  160000 events/s"), "{out}");
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(junit::render(&hand_made()));
}

// ---- Mermaid ----

/// The recorded trace and violations of one seed.
fn replay(file: &str, seed: u64) -> (Vec<Event>, Vec<Violation>) {
    let r = run_one(&load(file), seed, true, shared(Sqlite::memory().unwrap())).unwrap();
    (r.events, r.violations)
}

/// Seed 001's counterexample for one order: its events, the run's phases and the verdict — the
/// lines `replay` prints for order …A057, the other nine orders cut.
fn seed001_small() -> (Vec<Event>, Vec<Violation>) {
    let (events, violations) = replay("seed001_race.toml", 26);
    let keep = |e: &Event| e.text.contains("26A6A057") || matches!(e.kind, Kind::Run | Kind::Check);
    (events.into_iter().filter(keep).collect(), violations)
}

/// What Mermaid and then the browser make of escaped text (`#59;` → `;`, `#quot;` → `"`).
fn unescape(text: &str) -> String {
    let (mut out, mut rest) = (String::new(), text);
    while let Some(at) = rest.find('#') {
        out.push_str(&rest[..at]);
        let code = &rest[at + 1..];
        let end = code.find(';').unwrap_or_else(|| panic!("a bare # in {text:?}"));
        out.push(match &code[..end] {
            "quot" => '"',
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            n => char::from_u32(n.parse().unwrap_or_else(|_| panic!("code {n:?} in {text:?}"))).unwrap(),
        });
        rest = &code[end + 1..];
    }
    out + rest
}

/// A message's or note's text obeys Mermaid's lexer: with entity codes taken out, no `#`, `;`
/// or line break is left (either would end the text), nor markup.
fn assert_lexes(text: &str) {
    let mut bare = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('#') {
        bare.push_str(&rest[..at]);
        let code = &rest[at + 1..];
        let end = code.find(';').unwrap_or_else(|| panic!("a bare # in {text:?}"));
        assert!(code[..end].chars().all(|c| c.is_ascii_alphanumeric()), "not an entity code in {text:?}");
        rest = &code[end + 1..];
    }
    bare.push_str(rest);
    for c in ['#', ';', '\n', '\r', '<', '>', '"', '&', '%'] {
        assert!(!bare.replace("<br/>", "").contains(c), "{c:?} left in {text:?}");
    }
    assert!(!text.contains("style") && !text.contains("classDef"), "{text:?}");
}

/// The statements of a diagram that stand for events, with the fill of the `rect` they sit in.
fn statements(diagram: &str) -> Vec<(String, Option<String>)> {
    let mut lines = diagram.lines();
    assert_eq!(lines.next(), Some("sequenceDiagram"));
    let mut out = Vec::new();
    let mut fill = None;
    for line in lines.map(str::trim) {
        if let Some(f) = line.strip_prefix("rect ") {
            fill = Some(f.to_string());
        } else if line == "end" {
            fill = None;
        } else if !line.starts_with("participant ") {
            out.push((line.to_string(), fill.clone()));
        }
    }
    out
}

/// Whether some actor of `events` stands in the browser lane.
fn has_browser(events: &[Event], lanes: &Lanes) -> bool {
    events
        .iter()
        .filter(|e| !matches!(e.kind, Kind::Run | Kind::Check))
        .flat_map(|e| std::iter::once(&e.actor).chain(e.peer.as_ref()))
        .any(|a| lanes.lane(a) == Lane::Browser)
}

/// The lanes a diagram of `events` must draw, in order: the browser lane only for a trace with
/// a browser actor, then the other five, always.
fn expected_lanes(events: &[Event], lanes: &Lanes) -> Vec<&'static str> {
    let mut out = if has_browser(events, lanes) { vec!["browser"] } else { Vec::new() };
    out.extend(["provider", "network", "app", "jobs", "database"]);
    out
}

/// The participants of a Mermaid diagram, in order.
fn participants(diagram: &str) -> Vec<&str> {
    diagram
        .lines()
        .filter_map(|l| l.trim().strip_prefix("participant "))
        .map(|l| l.split(' ').next().unwrap())
        .collect()
}

/// Structural checks that hold for any trace: lanes in order, one statement per event in
/// order, each lexing and decoding back to its time and text, faults and violations in red.
fn check_mermaid(events: &[Event], violations: &[Violation], lanes: &Lanes) {
    let diagram = mermaid(events, violations, lanes);
    let expected = expected_lanes(events, lanes);
    assert_eq!(participants(&diagram), expected);
    let all = statements(&diagram);
    assert_eq!(all.len(), events.len() + 1, "one statement per event, then the verdict");
    for ((statement, fill), e) in all.iter().zip(events) {
        let (head, text) = statement.split_once(": ").unwrap_or_else(|| panic!("no text: {statement}"));
        assert!(!head.contains('#'), "{statement}");
        assert_lexes(text);
        let text = unescape(text);
        assert!(text.starts_with(&fmt_ms(e.t_ms)), "{text} for {e}");
        assert!(text.ends_with(&e.text.replace(['\n', '\r'], " ")), "{text} for {e}");
        let violated = e.kind == Kind::Check && e.text.starts_with("VIOLATED");
        assert_eq!(fill.is_some(), e.kind == Kind::Fault || violated, "{statement}");
        if e.kind == Kind::Fault {
            assert!(text.contains('⚡'), "{statement}");
        }
        assert_lanes(head, &expected);
    }
    let (verdict, fill) = all.last().unwrap();
    let across = format!("Note over {},database: ", expected[0]);
    let text = verdict.strip_prefix(&across).unwrap_or_else(|| panic!("{verdict}"));
    assert_lexes(text);
    assert_eq!(fill.is_some(), !violations.is_empty());
    for v in violations {
        assert!(unescape(text).contains(&format!("`{}`", v.invariant)), "{verdict}");
    }
}

/// A statement's head is a note over drawn lanes, or an arrow between two drawn lanes.
fn assert_lanes(head: &str, lanes: &[&str]) {
    if let Some(over) = head.strip_prefix("Note over ") {
        assert!(over.split(',').all(|l| lanes.contains(&l)), "{head}");
        return;
    }
    let from: String = head.chars().take_while(char::is_ascii_alphabetic).collect();
    let rest = &head[from.len()..];
    let arrow = ["-->>", "->>", "--x", "-x", "--)", "-)"].into_iter().find(|a| rest.starts_with(a));
    let arrow = arrow.unwrap_or_else(|| panic!("no arrow in {head}"));
    assert!(lanes.contains(&from.as_str()) && lanes.contains(&&rest[arrow.len()..]), "{head}");
}

#[test]
fn mermaid_of_seed001_small_counterexample() {
    let (events, violations) = seed001_small();
    check_mermaid(&events, &violations, &seed001_lanes());
    let diagram = mermaid(&events, &violations, &seed001_lanes());
    let readme = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(readme.contains(&format!("```mermaid\n{diagram}```")), "README's example differs from:\n{diagram}");
    insta::assert_snapshot!(diagram);
}

#[test]
fn mermaid_of_failing_seeds_with_faults() {
    for file in ["seed001_race.toml", "no_reconciliation.toml", "double_fulfil.toml", "split_update.toml"] {
        let seed = run(file, None).first_seed.unwrap_or_else(|| panic!("{file} finds its violation"));
        let (events, violations) = replay(file, seed);
        assert!(!violations.is_empty(), "{file} seed {seed}");
        check_mermaid(&events, &violations, &seed001_lanes());
    }
}

/// The lanes of seed 003's actors, as `paystack-bookings` declares them.
fn paystack_lanes() -> Lanes {
    Lanes::of(&load("paystack_stale_rollback.toml").build_system().unwrap().info().actors)
}

/// The whole trace of the first of ten seeds a stale rollback fails.
fn paystack_failure() -> (Vec<Event>, Vec<Violation>) {
    let file = "paystack_stale_rollback.toml";
    let seed = run(file, Some(10)).first_seed.expect("a stale rollback within 10 seeds");
    let (events, violations) = replay(file, seed);
    assert!(!violations.is_empty(), "seed {seed}");
    (events, violations)
}

/// The tabs' own events: what actor `browser` sent, received and showed.
fn is_tab_event(e: &Event) -> bool {
    e.actor == "browser" && !matches!(e.kind, Kind::Run | Kind::Check)
}

#[test]
fn mermaid_draws_browser_tabs_in_their_own_lane() {
    let (events, violations) = paystack_failure();
    let lanes = paystack_lanes();
    check_mermaid(&events, &violations, &lanes);
    let diagram = mermaid(&events, &violations, &lanes);
    assert_eq!(participants(&diagram)[..2], ["browser", "provider"], "{diagram}");
    assert!(diagram.contains("\n    participant browser\n"), "only the tabs stand in it");
    let mut screens = 0;
    for ((statement, _), e) in statements(&diagram).iter().zip(&events) {
        let head = statement.split_once(": ").unwrap().0;
        let lanes_of_head: Vec<&str> =
            head.trim_start_matches("Note over ").split([',', '-', '>', ')', 'x']).filter(|l| !l.is_empty()).collect();
        if is_tab_event(e) {
            assert!(lanes_of_head.contains(&"browser"), "{statement} for {e}");
            assert!(!lanes_of_head.contains(&"provider"), "a tab's event in the provider lane: {statement}");
            screens += usize::from(head == "Note over browser" && e.text.starts_with("tab "));
        } else if lanes_of_head == ["provider"] {
            assert!(!e.text.starts_with("tab "), "a tab's screen in the provider lane: {statement}");
        }
    }
    assert!(screens > 0, "the tabs' screens are notes on the browser lane");
}

/// Seed 1 of the stale rollback, the events of customer 5's booking and tabs from the click on
/// "cancel" (00:06:46) on: the README's browser-lane example.
fn paystack_rollback_small() -> (Vec<Event>, Vec<Violation>) {
    let (events, violations) = replay("paystack_stale_rollback.toml", 1);
    let about = ["tab 5.", "bk-5", "customer=5", "/bookings/5/"];
    let keep = |e: &Event| e.t_ms >= 406_000 && about.iter().any(|a| e.text.contains(a));
    (events.into_iter().filter(keep).collect(), violations)
}

#[test]
fn mermaid_of_a_paystack_rollback_is_the_readmes() {
    let (events, violations) = paystack_rollback_small();
    let lanes = paystack_lanes();
    check_mermaid(&events, &violations, &lanes);
    let diagram = mermaid(&events, &violations, &lanes);
    let readme = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(readme.contains(&format!("```mermaid\n{diagram}```")), "README's example differs from:\n{diagram}");
}

#[test]
fn diagrams_of_systems_without_tabs_have_no_browser_lane() {
    let (events, violations) = replay("seed001_race.toml", 26);
    let diagram = mermaid(&events, &violations, &seed001_lanes());
    assert_eq!(participants(&diagram), ["provider", "network", "app", "jobs", "database"]);
    assert!(!diagram.contains("browser"), "{diagram}");
    assert!(diagram.contains("Note over provider,database: "));
    let page = html("seed001", &events, &violations, &seed001_lanes());
    assert!(!page.contains("lanehead-browser"));
    // A system that declares a browser actor, in a trace where none acted: five lanes too.
    let (events, violations) = paystack_failure();
    let without: Vec<Event> =
        events.into_iter().filter(|e| e.actor != "browser" && e.peer.as_deref() != Some("browser")).collect();
    let diagram = mermaid(&without, &violations, &paystack_lanes());
    assert_eq!(participants(&diagram), ["provider", "network", "app", "jobs", "database"]);
}

/// The declared roles of the actors of [`nasty_trace`]; the rest are undeclared.
fn nasty_lanes() -> Lanes {
    let a = |name: &str, role| ActorInfo { name: name.into(), role, crashable: false };
    Lanes::of(&[
        a("fanvue", Role::Provider),
        a("revenue-sync", Role::Jobs),
        a("cron", Role::Jobs),
        a("sync", Role::Jobs),
    ])
}

/// Events of every kind from actors settle does not know, with text Mermaid would choke on.
fn nasty_trace() -> Vec<Event> {
    let text = "pay; #1 \"q\" <b>x</b> & 100%%{init} lifestyle:a;b\nnext end";
    let ev = |t_ms, kind, actor: &str, peer: Option<&str>| Event {
        t_ms,
        kind,
        actor: actor.into(),
        peer: peer.map(Into::into),
        text: text.into(),
        exchange: None,
    };
    vec![
        ev(0, Kind::Run, "sim", None),
        ev(1, Kind::Send, "fanvue", Some("revenue-sync")),
        ev(2, Kind::Deliver, "revenue-sync", Some("fanvue")),
        ev(3, Kind::Reply, "fanvue", Some("revenue-sync")),
        ev(4, Kind::Unit, "cron", Some("db")),
        ev(5, Kind::State, "x;y#z", None),
        ev(6, Kind::Fault, "weird<actor>", Some("other\"one")),
        ev(7, Kind::Fault, "", None),
        ev(8, Kind::Lifecycle, "sync", None),
        ev(9, Kind::Check, "checker", None),
    ]
}

#[test]
fn mermaid_escapes_what_its_lexer_would_misread() {
    let events = nasty_trace();
    let violations = vec![Violation::from_findings(
        "a;b",
        InvariantKind::Eventually,
        9,
        vec![Finding::general("<script>#;</script>")],
    )];
    let lanes = nasty_lanes();
    check_mermaid(&events, &violations, &lanes);
    let diagram = mermaid(&events, &violations, &lanes);
    assert!(diagram.contains("participant jobs as jobs (revenue-sync, cron, sync)"), "{diagram}");
    assert!(
        diagram.contains("participant app as app (x#59;y#35;z, weird#lt;actor#gt;, other#quot;one, )"),
        "{diagram}"
    );
}

proptest::proptest! {
    /// Any text, escaped, lexes as one Mermaid message text and decodes back to itself (line
    /// breaks become spaces).
    #[test]
    fn mermaid_escaping_round_trips(text in "\\PC{0,40}|[#;<>&\"%\n a-z{}:]{0,40}") {
        let escaped = escape_mermaid(&text);
        assert_lexes(&escaped);
        proptest::prop_assert_eq!(unescape(&escaped), text.replace(['\n', '\r'], " "));
    }
}

// ---- HTML ----

/// Parses `page` as XML and returns the text of every element, checking that tags balance and
/// that only XML's own entities are used.
fn parse_xml(page: &str) -> Vec<String> {
    use quick_xml::events::Event as X;
    let mut reader = quick_xml::Reader::from_str(page);
    let (mut depth, mut texts, mut text) = (0usize, Vec::new(), String::new());
    loop {
        let event =
            reader.read_event().unwrap_or_else(|e| panic!("not well-formed at {}: {e}", reader.buffer_position()));
        match &event {
            X::Text(t) => {
                text.push_str(&t.decode().expect("UTF-8"));
                continue;
            }
            X::GeneralRef(r) if r.is_char_ref() => {
                text.push(r.resolve_char_ref().expect("a valid character reference").expect("a character"));
                continue;
            }
            X::GeneralRef(r) => {
                text.push(match &*r.decode().expect("UTF-8") {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    other => panic!("&{other}; is not one of XML's entities"),
                });
                continue;
            }
            _ => {}
        }
        if !text.is_empty() {
            texts.push(std::mem::take(&mut text));
        }
        match event {
            X::Start(_) => depth += 1,
            X::End(_) => depth = depth.checked_sub(1).expect("an end tag without a start"),
            X::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unclosed elements");
    texts
}

/// Every `src`, `href`, `url(` and `@import` of `page` refers inside it.
fn assert_self_contained(page: &str) {
    for tag in ["<script", "<link", "<img", "<iframe", "@import"] {
        assert!(!page.contains(tag), "{tag} in the page");
    }
    for attr in ["src=\"", "href=\"", "url("] {
        for (at, _) in page.match_indices(attr) {
            let target = &page[at + attr.len()..];
            assert!(target.starts_with('#'), "{attr} refers outside the page: {}", &target[..target.len().min(40)]);
        }
    }
}

fn check_html(title: &str, events: &[Event], violations: &[Violation], lanes: &Lanes) -> String {
    let page = html(title, events, violations, lanes);
    let texts = parse_xml(&page);
    assert_self_contained(&page);
    let drawn = expected_lanes(events, lanes);
    let heads: Vec<usize> =
        drawn.iter().map(|l| page.find(&format!("class=\"lanehead-{l}\"")).unwrap_or_else(|| panic!("{l}"))).collect();
    assert!(heads.windows(2).all(|w| w[0] < w[1]), "lanes out of order");
    assert_eq!(page.matches("class=\"lanehead-").count(), drawn.len(), "only the drawn lanes have a header");
    assert_eq!(page.matches("<g class=\"row ").count(), events.len());
    let faults = events.iter().filter(|e| e.kind == Kind::Fault).count();
    assert_eq!(page.matches("<g class=\"row k-fault fault\">").count(), faults);
    let violated = events.iter().filter(|e| e.kind == Kind::Check && e.text.starts_with("VIOLATED")).count();
    assert_eq!(page.matches("<g class=\"row k-check violation\">").count(), violated);
    let all = texts.concat();
    for e in events {
        // Each event is in the diagram (its text, and its timeline line as the row's tooltip)
        // and in the timeline below it.
        let line = e.to_string();
        assert!(all.matches(&line).count() >= 2, "{line} missing");
        assert!(texts.iter().any(|t| t.ends_with(&e.text)), "{} missing", e.text);
    }
    assert_eq!(page.contains("verdict bad"), !violations.is_empty());
    page
}

#[test]
fn html_of_a_small_counterexample_and_a_full_trace() {
    let (small, violations) = seed001_small();
    let small_page = check_html("seed001-race — seed 26, order …A057", &small, &violations, &seed001_lanes());
    let (full, violations) = replay("seed001_race.toml", 26);
    assert!(full.len() > 150, "{} events", full.len());
    let full_page = check_html("seed001-race — seed 26", &full, &violations, &seed001_lanes());
    // One row per event, top to bottom: the diagram grows with the trace, not sideways.
    let height = |page: &str| -> usize {
        let at = page.find("<svg class=\"rows\"").unwrap();
        let h = &page[at..][page[at..].find("height=\"").unwrap() + 8..];
        h[..h.find('"').unwrap()].parse().unwrap()
    };
    assert_eq!(height(&full_page) - height(&small_page), (full.len() - small.len()) * 22);
}

#[test]
fn html_of_failing_seeds_with_faults() {
    for file in ["no_reconciliation.toml", "double_fulfil.toml", "late_regress.toml"] {
        let seed = run(file, None).first_seed.unwrap_or_else(|| panic!("{file} finds its violation"));
        let (events, violations) = replay(file, seed);
        assert!(events.iter().any(|e| e.kind == Kind::Fault), "{file} seed {seed} has faults");
        check_html(file, &events, &violations, &seed001_lanes());
    }
}

#[test]
fn html_escapes_text_and_title() {
    let events = nasty_trace();
    let page = check_html("<script>alert(\"t\")</script> & co", &events, &[], &nasty_lanes());
    assert!(!page.contains("<script"), "markup from the input reached the page");
    assert!(!page.contains("<b>"), "markup from the input reached the page");
    assert!(page.contains("&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &amp; co"));
    assert!(page.contains("verdict good"));
}

/// The centre of `lane`'s header in a page.
fn lane_centre(page: &str, lane: &str) -> String {
    let at = page.find(&format!("class=\"lanehead-{lane}\"")).unwrap_or_else(|| panic!("no {lane} lane"));
    let key = "class=\"lanename\" x=\"";
    let x = &page[at..][page[at..].find(key).unwrap() + key.len()..];
    x[..x.find('"').unwrap()].to_string()
}

#[test]
fn html_draws_browser_tabs_in_their_own_lane() {
    let (events, violations) = paystack_failure();
    let page = check_html("paystack-stale-rollback", &events, &violations, &paystack_lanes());
    let (browser, provider) = (lane_centre(&page, "browser"), lane_centre(&page, "provider"));
    assert!(browser.parse::<usize>().unwrap() < provider.parse::<usize>().unwrap(), "the browser lane comes first");
    let at_x = |row: &str, x: &str| -> bool {
        let x: usize = x.parse().unwrap();
        let note = format!("<rect class=\"note\" x=\"{}\"", x - 9);
        let badge = format!("<rect class=\"badge\" x=\"{}\"", x - 11);
        row.contains(&format!("x1=\"{x}\""))
            || row.contains(&format!("x2=\"{x}\""))
            || row.contains(&note)
            || row.contains(&badge)
    };
    let rows: Vec<&str> = page.split("<g class=\"row ").skip(1).collect();
    assert_eq!(rows.len(), events.len());
    let mut tab_rows = 0;
    for (row, e) in rows.iter().zip(&events) {
        let shape = &row[..row.find("<text class=\"time\"").unwrap()];
        if is_tab_event(e) {
            tab_rows += 1;
            assert!(at_x(shape, &browser), "a tab's event off the browser lane: {e}");
            assert!(!at_x(shape, &provider), "a tab's event on the provider lane: {e}");
        }
    }
    assert!(tab_rows > 10, "{tab_rows} tab rows");
}
