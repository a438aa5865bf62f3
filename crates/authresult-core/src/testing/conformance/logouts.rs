//! The logout list port's checks ([`LogoutList`]).

use std::time::Duration;

use futures::StreamExt;
use futures::future::{Either, select};

use super::T0;
use crate::{Logout, LogoutList, MAX_LOGOUT_ID_LEN};

const ISSUER: &str = "https://sso.example.org/realms/field";
const HOUR: Duration = Duration::from_secs(3600);

fn logout(sid: Option<&str>, sub: Option<&str>, at_secs: u64) -> Logout {
    Logout::new(
        ISSUER,
        sid.map(str::to_owned),
        sub.map(str::to_owned),
        T0.saturating_add_secs(at_secs),
        HOUR,
    )
    .expect("a well-formed logout")
}

fn sorted(mut list: Vec<Logout>) -> Vec<(Option<String>, Option<String>, u64)> {
    let mut out: Vec<_> = list
        .drain(..)
        .map(|l| (l.sid, l.sub, l.logged_out_at.as_millis()))
        .collect();
    out.sort();
    out
}

/// What is recorded is loaded back whole, until it expires.
pub async fn logouts_are_loaded_until_they_expire<S: LogoutList + ?Sized>(list: &S) {
    assert!(list.load(T0).await.expect("load").is_empty(), "empty at first");
    let by_sid = logout(Some("sid-1"), Some("alice"), 0);
    let by_sub = logout(None, Some("bob"), 10);
    list.record(&by_sid).await.expect("record");
    list.record(&by_sub).await.expect("record");
    let loaded = list.load(T0).await.expect("load");
    assert_eq!(loaded.len(), 2, "both loaded");
    assert!(loaded.contains(&by_sid), "the sid logout loaded whole");
    assert!(loaded.contains(&by_sub), "the sub logout loaded whole");
    // `by_sid` expires at T0 + 1 h, `by_sub` ten seconds later.
    let later = T0.saturating_add_secs(3600);
    assert_eq!(
        list.load(later).await.expect("load"),
        vec![by_sub.clone()],
        "expired left out"
    );
    assert_eq!(list.purge(later).await.expect("purge"), 1, "one purged");
    assert_eq!(list.purge(later).await.expect("purge"), 0, "purge is idempotent");
    assert_eq!(list.load(T0).await.expect("load"), vec![by_sub], "the other kept");
}

/// Recording the same logout again (a replayed logout token) changes
/// nothing; a later logout of the same key moves its times forward, an
/// earlier one never moves them back.
pub async fn recording_again_keeps_the_latest<S: LogoutList + ?Sized>(list: &S) {
    let first = logout(Some("sid-1"), Some("alice"), 100);
    list.record(&first).await.expect("record");
    list.record(&first).await.expect("record again");
    assert_eq!(
        list.load(T0).await.expect("load"),
        vec![first.clone()],
        "one entry"
    );
    list.record(&logout(Some("sid-1"), Some("alice"), 50))
        .await
        .expect("record earlier");
    assert_eq!(list.load(T0).await.expect("load"), vec![first], "not moved back");
    let later = logout(Some("sid-1"), Some("alice"), 200);
    list.record(&later).await.expect("record later");
    assert_eq!(list.load(T0).await.expect("load"), vec![later], "moved forward");
    // Another key is another entry.
    list.record(&logout(Some("sid-2"), Some("alice"), 200))
        .await
        .expect("record");
    assert_eq!(
        sorted(list.load(T0).await.expect("load")),
        vec![
            (
                Some("sid-1".into()),
                Some("alice".into()),
                T0.as_millis() + 200_000
            ),
            (
                Some("sid-2".into()),
                Some("alice".into()),
                T0.as_millis() + 200_000
            ),
        ]
    );
}

/// A logout naming nothing, or a too long value, is refused and not kept.
pub async fn malformed_logouts_are_refused<S: LogoutList + ?Sized>(list: &S) {
    let mut nothing = logout(Some("s"), None, 0);
    nothing.sid = None;
    assert!(list.record(&nothing).await.is_err(), "names nothing");
    let mut long = logout(Some("s"), None, 0);
    long.sid = Some("x".repeat(MAX_LOGOUT_ID_LEN + 1));
    assert!(list.record(&long).await.is_err(), "too long");
    let mut empty = logout(Some("s"), None, 0);
    empty.sub = Some(String::new());
    assert!(list.record(&empty).await.is_err(), "empty sub");
    assert!(list.load(T0).await.expect("load").is_empty(), "nothing kept");
}

/// An open feed hears of each logout recorded after it opened, within
/// five seconds.
pub async fn a_feed_hears_of_new_logouts<S: LogoutList + ?Sized>(list: &S) {
    let mut feed = list.subscribe().await.expect("subscribe");
    let recorded = logout(Some("sid-9"), Some("carol"), 0);
    list.record(&recorded).await.expect("record");
    let heard = select(feed.next(), futures_timer::Delay::new(Duration::from_secs(5))).await;
    match heard {
        Either::Left((Some(notice), _)) => assert_eq!(notice, recorded, "the notice is the logout"),
        Either::Left((None, _)) => panic!("the feed ended"),
        Either::Right(_) => panic!("no notice within five seconds"),
    }
}
