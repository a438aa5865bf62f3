//! Events a UI can subscribe to.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use futures::Stream;
use futures::channel::mpsc;

use crate::error::FailureKind;
use crate::provider::TokenKind;
use crate::session::ProviderId;
use crate::time::Timestamp;

/// Something that happened to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthEvent {
    /// A login completed and the session was stored.
    LoggedIn {
        /// The provider.
        provider: ProviderId,
    },
    /// The access token was refreshed and the new session stored.
    Refreshed {
        /// The provider.
        provider: ProviderId,
        /// The new expiry, when known.
        expires_at: Option<Timestamp>,
    },
    /// A refresh failed. `Transient` keeps the session; `Terminal` ended it.
    RefreshFailed {
        /// The provider.
        provider: ProviderId,
        /// Transient, protocol or terminal.
        kind: FailureKind,
    },
    /// A refresh result was discarded because another login replaced the
    /// session meanwhile; the new login's session is kept and the caller got
    /// [`Error::SessionReplaced`](crate::Error::SessionReplaced).
    RefreshDiscarded {
        /// The provider.
        provider: ProviderId,
    },
    /// The access token expired and cannot be refreshed (no refresh token).
    Expired {
        /// The provider.
        provider: ProviderId,
    },
    /// The session was removed (logout, or a terminal refresh failure).
    LoggedOut {
        /// The provider.
        provider: ProviderId,
    },
    /// Revoking these tokens failed transiently (offline, timeout, 5xx): they
    /// are kept in the store and revoked on the next call that reaches the
    /// provider, or by `retry_pending_revocations`.
    RevocationPending {
        /// The provider.
        provider: ProviderId,
        /// The tokens still to revoke.
        tokens: Vec<TokenKind>,
    },
    /// The provider revoked these tokens (at logout, or later from the store).
    Revoked {
        /// The provider.
        provider: ProviderId,
        /// The tokens revoked.
        tokens: Vec<TokenKind>,
    },
}

/// Capacity of each subscriber's queue; a subscriber that falls this far
/// behind misses events rather than growing memory without bound.
const QUEUE: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct EventHub {
    subscribers: Mutex<Vec<mpsc::Sender<AuthEvent>>>,
}

impl EventHub {
    pub(crate) fn subscribe(&self) -> EventStream {
        let (tx, rx) = mpsc::channel(QUEUE);
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.push(tx);
        }
        EventStream { rx }
    }

    pub(crate) fn emit(&self, event: AuthEvent) {
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.retain_mut(|tx| match tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(e) => !e.is_disconnected(),
            });
        }
    }
}

/// A stream of [`AuthEvent`]s from [`AuthManager::subscribe`](crate::AuthManager::subscribe).
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<AuthEvent>,
}

impl EventStream {
    /// The next event already queued, without waiting.
    pub fn try_next_event(&mut self) -> Option<AuthEvent> {
        self.rx.try_recv().ok()
    }
}

impl Stream for EventStream {
    type Item = AuthEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AuthEvent>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}
