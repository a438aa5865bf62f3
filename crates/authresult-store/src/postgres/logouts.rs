//! The logout list (`LogoutList`) on PostgreSQL: one row per logout in the
//! `logouts` table, written and announced in one statement (`pg_notify`,
//! delivered when it commits), and a feed on a dedicated connection that
//! `LISTEN`s to the schema's channel. Rows hold identifiers (issuer, `sid`,
//! `sub`), not secrets, and are not sealed.

use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use authresult_core::{Error, FailureKind, Logout, LogoutFeed, LogoutList, Timestamp};
use futures::channel::mpsc::{UnboundedReceiver, unbounded};
use futures::{Stream, StreamExt};
use tokio_postgres::{AsyncMessage, Client};

use super::PostgresStore;
use super::options::quote_ident;
use super::pool::{Param, column, pg, settle};
use crate::codec::ts;
use crate::error::StoreError;

/// The statements, with the schema name quoted in.
struct LogoutSql {
    record: String,
    load: String,
    purge: String,
}

impl LogoutSql {
    fn new(s: &str) -> Self {
        // `sid` and `sub` are '' when absent (a logout never names an empty one).
        LogoutSql {
            record: format!(
                "WITH up AS (
                    INSERT INTO {s}.logouts AS cur (issuer, sid, sub, logged_out_at, expires_at)
                    VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (issuer, sid, sub) DO UPDATE
                        SET logged_out_at = GREATEST(cur.logged_out_at, EXCLUDED.logged_out_at),
                            expires_at = GREATEST(cur.expires_at, EXCLUDED.expires_at)
                    RETURNING issuer, sid, sub, logged_out_at, expires_at)
                 SELECT pg_notify($6, json_build_object('iss', issuer, 'sid', sid, 'sub', sub,
                    'at', logged_out_at, 'exp', expires_at)::text) FROM up"
            ),
            load: format!(
                "SELECT issuer, sid, sub, logged_out_at, expires_at FROM {s}.logouts WHERE expires_at > $1"
            ),
            purge: format!("DELETE FROM {s}.logouts WHERE expires_at <= $1"),
        }
    }
}

/// The notification channel of a schema: a fixed prefix and a hash of the
/// schema name (FNV-1a, the same in every build), as a channel name is an
/// identifier of at most 63 bytes.
pub(super) fn channel(schema: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in schema.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("authresult_logouts_{hash:016x}")
}

/// A notice's payload, as `record` writes it; `None` for anything else.
fn parse_notice(payload: &str) -> Option<Logout> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    let text = |name: &str| value.get(name)?.as_str().map(str::to_owned);
    let id = |name: &str| text(name).filter(|v| !v.is_empty());
    let time = |name: &str| Some(Timestamp::from_millis(value.get(name)?.as_u64()?));
    let logout = Logout {
        issuer: text("iss")?,
        sid: id("sid"),
        sub: id("sub"),
        logged_out_at: time("at")?,
        expires_at: time("exp")?,
    };
    logout.is_well_formed().then_some(logout)
}

fn row_logout(row: &tokio_postgres::Row) -> Result<Option<Logout>, StoreError> {
    let issuer: String = column(row, 0)?;
    let sid: String = column(row, 1)?;
    let sub: String = column(row, 2)?;
    let at: i64 = column(row, 3)?;
    let exp: i64 = column(row, 4)?;
    let logout = Logout {
        issuer,
        sid: Some(sid).filter(|v| !v.is_empty()),
        sub: Some(sub).filter(|v| !v.is_empty()),
        logged_out_at: Timestamp::from_millis(u64::try_from(at).unwrap_or(0)),
        expires_at: Timestamp::from_millis(u64::try_from(exp).unwrap_or(0)),
    };
    // A row another writer damaged is skipped, not trusted.
    Ok(logout.is_well_formed().then_some(logout))
}

impl PostgresStore {
    fn logout_sql(&self) -> LogoutSql {
        LogoutSql::new(&quote_ident(&self.schema))
    }

    async fn load_logouts_once(&self, now: Timestamp) -> Result<Vec<Logout>, StoreError> {
        let client = self.client().await?;
        let result = async {
            let statement = client.prepare_cached(&self.logout_sql().load).await.map_err(pg)?;
            let rows = client.query(&statement, &[&ts(now)]).await.map_err(pg)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.extend(row_logout(row)?);
            }
            Ok(out)
        }
        .await;
        settle(client, result)
    }

    /// A connection of its own listening to the schema's channel; the feed
    /// ends when the connection does.
    async fn open_feed(&self) -> Result<LogoutFeed, StoreError> {
        let (sender, receiver) = unbounded();
        let client = match &self.listen.tls {
            Some(tls) => {
                let connect = tokio_postgres_rustls::MakeRustlsConnect::new(tls.clone());
                let (client, connection) = self.listen.config.connect(connect).await.map_err(pg)?;
                spawn_driver(connection, sender);
                client
            }
            None => {
                let (client, connection) = self
                    .listen
                    .config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(pg)?;
                spawn_driver(connection, sender);
                client
            }
        };
        client
            .batch_execute(&format!("LISTEN {}", quote_ident(&channel(&self.schema))))
            .await
            .map_err(pg)?;
        Ok(Feed {
            receiver,
            _client: client,
        }
        .boxed())
    }
}

/// Polls the listening connection, handing its notifications on; ends (and
/// so ends the feed) when the connection closes or the feed is dropped.
fn spawn_driver<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    sender: futures::channel::mpsc::UnboundedSender<Logout>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(notice)) => {
                    if let Some(logout) = parse_notice(notice.payload())
                        && sender.unbounded_send(logout).is_err()
                    {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
}

/// The feed: the notices, and the client that keeps the connection open.
struct Feed {
    receiver: UnboundedReceiver<Logout>,
    _client: Client,
}

impl Stream for Feed {
    type Item = Logout;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Logout>> {
        self.receiver.poll_next_unpin(cx)
    }
}

/// Logouts shared by every instance on the server: a logout recorded by one
/// reaches the others' feeds when its statement commits (`LISTEN`/`NOTIFY`
/// on a dedicated connection per feed).
#[async_trait]
impl LogoutList for PostgresStore {
    async fn record(&self, logout: &Logout) -> Result<(), Error> {
        if !logout.is_well_formed() {
            return Err(Error::store(
                FailureKind::Configuration,
                "a logout must name a session or a user, with values of allowed lengths",
            ));
        }
        let sql = self.logout_sql();
        let channel = channel(&self.schema);
        let sid = logout.sid.as_deref().unwrap_or("");
        let sub = logout.sub.as_deref().unwrap_or("");
        let (at, exp) = (ts(logout.logged_out_at), ts(logout.expires_at));
        let params: [Param<'_>; 6] = [&logout.issuer, &sid, &sub, &at, &exp, &channel];
        // Repeatable: a second write of the same logout changes nothing.
        self.retry(true, || self.execute_once(&sql.record, &params))
            .await?;
        Ok(())
    }

    async fn load(&self, now: Timestamp) -> Result<Vec<Logout>, Error> {
        Ok(self.retry(true, || self.load_logouts_once(now)).await?)
    }

    async fn purge(&self, now: Timestamp) -> Result<u64, Error> {
        let sql = self.logout_sql();
        let at = ts(now);
        let params: [Param<'_>; 1] = [&at];
        Ok(self
            .retry(true, || self.execute_once(&sql.purge, &params))
            .await?)
    }

    async fn subscribe(&self) -> Result<LogoutFeed, Error> {
        Ok(self.open_feed().await?)
    }
}
