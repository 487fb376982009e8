//! The simulated Fanvue on its wire, through the simulated network: pagination and the opaque
//! cursor, the rate limit and its headers, the version header, authentication, visibility lag,
//! refunds as negative rows, the cached summary, injected 5xx.
//!
//! The network here has a fixed latency and no faults, so every answer is the provider's own.

use serde_json::Value;

use super::provider::{ACTOR, Fanvue, ProviderConfig};
use super::wire::{self, EarningsPage, Summary};
use super::{Ledger, Source};
use crate::sim::{Millis, NetConfig, Oracle, Range, Rate, Request, Response, Sim, SimConfig};

const TOKEN: &str = "token-a";
const OTHER: &str = "token-b";
const VERSION: &str = "2025-06-26";

fn config() -> SimConfig {
    SimConfig {
        record: true,
        safety: Millis::h(1),
        liveness: Millis::h(1),
        epoch_ms: crate::sim::DEFAULT_EPOCH_MS,
        net: NetConfig { latency: Range::fixed(Millis(5)), ..NetConfig::default() },
        crashes: Default::default(),
        notes: Vec::new(),
        tap: None,
    }
}

/// Runs `body` against a provider with creators `a` (token-a) and `b` (token-b).
fn with_provider<F, Fut>(cfg: ProviderConfig, body: F)
where
    F: FnOnce(Sim, Fanvue) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let out = Sim::run(config(), Oracle::random(1), move |sim| async move {
        let f = Fanvue::start(&sim, cfg);
        f.add_creator("a", "anna", TOKEN);
        f.add_creator("b", "bea", OTHER);
        body(sim, f).await;
    });
    out.expect("the runtime starts");
}

async fn get(sim: &Sim, path: &str, token: &str, version: Option<&str>) -> Response {
    let mut req = Request::new(http::Method::GET, path).header("authorization", format!("Bearer {token}"));
    if let Some(v) = version {
        req = req.header("x-fanvue-api-version", v);
    }
    sim.request("client", ACTOR, req, 10_000).await.expect("no network faults here")
}

fn page(resp: &Response) -> EarningsPage {
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    serde_json::from_slice(&resp.body).expect("a page")
}

fn error_text(resp: &Response) -> String {
    let v: Value = serde_json::from_slice(&resp.body).expect("a JSON error");
    v["error"].as_str().expect("an error message").to_string()
}

fn seed_rows(f: &Fanvue, n: i64) -> Vec<String> {
    let base = crate::sim::DEFAULT_EPOCH_MS as i64 - 1_000_000;
    (0..n).map(|i| f.add_history("a", base + i * 1_000, 100 + i, Source::Tip, "fan-1").unwrap()).collect()
}

#[test]
fn pages_follow_next_cursor_to_null_and_return_every_row_once() {
    with_provider(ProviderConfig::default(), |sim, f| async move {
        let ids = seed_rows(&f, 7);
        let mut seen = Vec::new();
        let mut path = "/insights/earnings?size=3".to_string();
        for _ in 0..10 {
            let p = page(&get(&sim, &path, TOKEN, Some(VERSION)).await);
            assert!(p.data.len() <= 3);
            seen.extend(p.data.iter().map(|r| r.id.clone()));
            match p.next_cursor {
                Some(c) => path = format!("/insights/earnings?size=3&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, ids);
        // The other creator's ledger is empty: one page, no cursor.
        let other = page(&get(&sim, "/insights/earnings", OTHER, Some(VERSION)).await);
        assert!(other.data.is_empty());
        assert_eq!(other.next_cursor, None);
    });
}

#[test]
fn dates_bound_the_range_start_inclusive_end_exclusive() {
    with_provider(ProviderConfig::default(), |sim, f| async move {
        let ids = seed_rows(&f, 5);
        let base = crate::sim::DEFAULT_EPOCH_MS as i64 - 1_000_000;
        let (s, e) = (wire::format_instant(base + 1_000), wire::format_instant(base + 3_000));
        let p = page(&get(&sim, &format!("/insights/earnings?startDate={s}&endDate={e}"), TOKEN, Some(VERSION)).await);
        assert_eq!(p.data.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids[1..3].to_vec());
        assert_eq!(p.data[0].date, s);
        assert_eq!(p.data[0].gross, 101);
        assert_eq!(p.data[0].net, 101 - 101 / 5);
        assert_eq!(p.data[0].currency, "USD");
        let bad = get(&sim, "/insights/earnings?startDate=yesterday", TOKEN, Some(VERSION)).await;
        assert_eq!(bad.status, 400);
        assert!(error_text(&bad).contains("startDate"), "{}", error_text(&bad));
    });
}

#[test]
fn the_cursor_is_opaque_an_edited_or_foreign_one_is_refused() {
    with_provider(ProviderConfig::default(), |sim, f| async move {
        seed_rows(&f, 4);
        let p = page(&get(&sim, "/insights/earnings?size=2", TOKEN, Some(VERSION)).await);
        let c = p.next_cursor.expect("more rows");
        // Nothing readable inside: no date, no id in clear text.
        assert!(!c.contains("fa00") && !c.contains(':'), "{c}");
        let mut edited = c.clone().into_bytes();
        let last = edited.len() - 1;
        edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).unwrap();
        let r = get(&sim, &format!("/insights/earnings?cursor={edited}"), TOKEN, Some(VERSION)).await;
        assert_eq!(r.status, 400);
        assert!(error_text(&r).contains("invalid cursor"));
        let foreign = get(&sim, &format!("/insights/earnings?cursor={c}"), OTHER, Some(VERSION)).await;
        assert_eq!(foreign.status, 400);
        assert!(error_text(&foreign).contains("another creator"));
    });
}

#[test]
fn size_is_1_to_50_and_defaults_to_20() {
    with_provider(ProviderConfig::default(), |sim, f| async move {
        seed_rows(&f, 60);
        assert_eq!(page(&get(&sim, "/insights/earnings", TOKEN, Some(VERSION)).await).data.len(), 20);
        assert_eq!(page(&get(&sim, "/insights/earnings?size=50", TOKEN, Some(VERSION)).await).data.len(), 50);
        assert_eq!(page(&get(&sim, "/insights/earnings?size=1", TOKEN, Some(VERSION)).await).data.len(), 1);
        for bad in ["0", "51", "abc", "2.5", "-1"] {
            let r = get(&sim, &format!("/insights/earnings?size={bad}"), TOKEN, Some(VERSION)).await;
            assert_eq!(r.status, 400, "size={bad}");
            assert!(error_text(&r).contains("size"));
        }
    });
}

#[test]
fn version_header_missing_or_unknown_is_400_retired_is_410() {
    with_provider(ProviderConfig::default(), |sim, _f| async move {
        let missing = get(&sim, "/insights/earnings", TOKEN, None).await;
        assert_eq!(missing.status, 400);
        assert!(error_text(&missing).contains("X-Fanvue-API-Version"));
        let unknown = get(&sim, "/insights/earnings", TOKEN, Some("2099-01-01")).await;
        assert_eq!(unknown.status, 400);
        assert!(error_text(&unknown).contains("unknown API version"));
        let retired = get(&sim, "/insights/earnings", TOKEN, Some("2024-06-26")).await;
        assert_eq!(retired.status, 410);
        assert!(error_text(&retired).contains("retired"));
        assert_eq!(get(&sim, "/insights/earnings", TOKEN, Some(VERSION)).await.status, 200);
    });
}

#[test]
fn a_bad_token_is_401() {
    with_provider(ProviderConfig::default(), |sim, _f| async move {
        assert_eq!(get(&sim, "/insights/earnings", "nope", Some(VERSION)).await.status, 401);
        let no_auth = Request::new(http::Method::GET, "/insights/earnings").header("x-fanvue-api-version", VERSION);
        assert_eq!(sim.request("client", ACTOR, no_auth, 10_000).await.unwrap().status, 401);
    });
}

#[test]
fn rate_limit_answers_429_with_retry_after_and_headers_then_refills() {
    let cfg = ProviderConfig { rate_limit: 3, rate_window: Millis::s(60), ..ProviderConfig::default() };
    with_provider(cfg, |sim, _f| async move {
        let first = get(&sim, "/insights/earnings", TOKEN, Some(VERSION)).await;
        let reset: i64 = first.header("x-ratelimit-reset").unwrap().parse().unwrap();
        let epoch_s = (crate::sim::DEFAULT_EPOCH_MS / 1000) as i64;
        assert!((epoch_s + 60..=epoch_s + 61).contains(&reset), "{reset}");
        assert_eq!(first.header("X-RateLimit-Limit"), Some("3"));
        assert_eq!(first.header("x-ratelimit-remaining"), Some("2"));
        assert_eq!(first.header("retry-after"), None);
        for remaining in ["1", "0"] {
            let r = get(&sim, "/insights/earnings", TOKEN, Some(VERSION)).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.header("x-ratelimit-remaining"), Some(remaining));
        }
        let limited = get(&sim, "/insights/earnings", TOKEN, Some(VERSION)).await;
        assert_eq!(limited.status, 429);
        assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
        let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
        assert!((59..=60).contains(&wait), "{wait}");
        // Another token has its own bucket.
        assert_eq!(get(&sim, "/insights/earnings", OTHER, Some(VERSION)).await.status, 200);
        sim.sleep_ms(wait * 1_000).await;
        let again = get(&sim, "/insights/earnings", TOKEN, Some(VERSION)).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.header("x-ratelimit-remaining"), Some("2"));
        assert!(sim.mark_count("provider:rate-limited") == 1);
    });
}

#[test]
fn a_late_row_is_left_out_of_pages_until_it_is_visible() {
    let cfg =
        ProviderConfig { lag: Rate(1_000_000), lag_delay: Range::fixed(Millis::s(90)), ..ProviderConfig::default() };
    with_provider(cfg, |sim, f| async move {
        seed_rows(&f, 2);
        let late = f.record_sale("a", 5_000, Source::Message, "fan-2").unwrap();
        let now = page(&get(&sim, "/insights/earnings", TOKEN, Some(VERSION)).await);
        assert_eq!(now.data.len(), 2);
        assert!(now.data.iter().all(|r| r.id != late));
        assert_eq!(sim.mark_count("provider:lag-hid-row"), 1);
        // Its date is already in the past; only its visibility is late.
        let date = f.with_ledger("a", |l: &Ledger| l.get(&late).unwrap().date_ms).unwrap();
        assert!(date <= sim.wall_ms() as i64);
        sim.sleep_ms(90_000).await;
        let later = page(&get(&sim, "/insights/earnings", TOKEN, Some(VERSION)).await);
        assert_eq!(later.data.last().map(|r| r.id.clone()), Some(late));
    });
}

#[test]
fn refunds_and_chargebacks_are_new_negative_rows_naming_the_original() {
    with_provider(ProviderConfig::default(), |sim, f| async move {
        let sale = f.record_sale("a", 2_500, Source::Subscription, "fan-3").unwrap();
        let other = f.record_sale("a", 1_000, Source::Tip, "fan-4").unwrap();
        sim.sleep_ms(1_000).await;
        let refund = f.reverse("a", &sale, Source::Refund).unwrap();
        let chargeback = f.reverse("a", &other, Source::Chargeback).unwrap();
        let p = page(&get(&sim, "/insights/earnings", TOKEN, Some(VERSION)).await);
        assert_eq!(p.data.len(), 4);
        // The originals are unchanged.
        assert_eq!((p.data[0].id.as_str(), p.data[0].gross), (sale.as_str(), 2_500));
        let r = &p.data[2];
        assert_eq!((r.id.as_str(), r.gross, r.net, r.source.as_str()), (refund.as_str(), -2_500, -2_000, "refund"));
        assert_eq!(r.related_transaction_id.as_deref(), Some(sale.as_str()));
        assert_eq!(p.data[3].id, chargeback);
        assert_eq!(p.data[3].source, "chargeback");
        assert_eq!(f.total("a"), 0);
        assert_eq!(f.reverse("a", "no-such-row", Source::Refund), None);
    });
}

#[test]
fn the_summary_leaves_reversals_out_and_is_cached() {
    with_provider(ProviderConfig::default(), |sim, f| async move {
        let sale = f.record_sale("a", 3_000, Source::Tip, "fan-5").unwrap();
        let summary = |r: Response| -> Summary { serde_json::from_slice(&r.body).unwrap() };
        assert_eq!(summary(get(&sim, "/insights/summary", TOKEN, Some(VERSION)).await).total_revenue, 3_000);
        f.reverse("a", &sale, Source::Refund).unwrap();
        f.record_sale("a", 700, Source::Tip, "fan-6").unwrap();
        // Cached: still the old figure.
        assert_eq!(summary(get(&sim, "/insights/summary", TOKEN, Some(VERSION)).await).total_revenue, 3_000);
        sim.sleep_ms(Millis::min(10).0).await;
        // Refreshed, and blind to the refund: 3,700 where the creator earned 700.
        assert_eq!(summary(get(&sim, "/insights/summary", TOKEN, Some(VERSION)).await).total_revenue, 3_700);
        assert_eq!(f.total("a"), 700);
    });
}

#[test]
fn server_errors_fire_only_in_the_safety_phase() {
    let cfg = ProviderConfig { server_error: Rate(1_000_000), ..ProviderConfig::default() };
    let out = Sim::run(SimConfig { safety: Millis::s(10), ..config() }, Oracle::random(3), move |sim| async move {
        let f = Fanvue::start(&sim, cfg);
        f.add_creator("a", "anna", TOKEN);
        let during = get(&sim, "/insights/earnings", TOKEN, Some(VERSION)).await;
        assert!([500, 502, 503].contains(&during.status), "{}", during.status);
        assert!(during.header("x-ratelimit-remaining").is_some());
        let phases = sim.clone();
        sim.spawn("phases", async move { phases.run_phases().await });
        sim.sleep_ms(20_000).await;
        assert_eq!(sim.phase(), crate::sim::Phase::Liveness);
        assert_eq!(get(&sim, "/insights/earnings", TOKEN, Some(VERSION)).await.status, 200);
        assert_eq!(sim.mark_count("fault:provider-5xx"), 1);
    });
    out.expect("the runtime starts");
}
