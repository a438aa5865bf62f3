//! [`BearerAuthFuture`]: the response future of [`BearerAuth`](crate::BearerAuth).
//!
//! A request whose token is answered at once (a cached validation, no
//! authorizer) goes straight to the inner service's own future; any other
//! request waits in a boxed future for key fetches, signature checks and the
//! authorizer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project_lite::pin_project! {
    /// The future of a request through [`BearerAuth`](crate::BearerAuth).
    pub struct BearerAuthFuture<F, T> {
        #[pin]
        state: State<F, T>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, T> {
        /// The token was accepted at once: the inner service's future.
        Inner { #[pin] future: F },
        /// Validation has to wait, then the inner service (or a rejection).
        Waiting { future: Boxed<T> },
    }
}

impl<F, T> BearerAuthFuture<F, T> {
    pub(super) fn inner(future: F) -> Self {
        BearerAuthFuture {
            state: State::Inner { future },
        }
    }

    pub(super) fn waiting(future: impl Future<Output = T> + Send + 'static) -> Self {
        BearerAuthFuture {
            state: State::Waiting {
                future: Box::pin(future),
            },
        }
    }
}

impl<F: Future<Output = T>, T> Future for BearerAuthFuture<F, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, T> fmt::Debug for BearerAuthFuture<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Inner { .. } => "inner",
            State::Waiting { .. } => "waiting",
        };
        f.debug_struct("BearerAuthFuture").field("state", &state).finish()
    }
}
