//! A health endpoint on loopback for verification tests: it fails, passes, hangs or
//! redirects away, as the test sets it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

/// How the health endpoint answers.
#[derive(Clone, Copy)]
pub enum Mode {
    /// 503 for the first N requests, then 200 with "ok".
    FailFirst(u32),
    /// 500 every time.
    AlwaysFail,
    /// Accepts the request and never answers.
    Hang,
    /// Redirects to another host.
    RedirectAway,
}

pub struct Health {
    mode: Mutex<Mode>,
    hits: AtomicU32,
}

impl Health {
    /// Answers as `mode` from now on.
    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// Requests answered so far.
    pub fn hits(&self) -> u32 {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Serves `/health` on loopback; the address and the request counter.
pub async fn serve(mode: Mode) -> (SocketAddr, Arc<Health>) {
    let state = Arc::new(Health {
        mode: Mutex::new(mode),
        hits: AtomicU32::new(0),
    });
    let app = Router::new()
        .route("/health", get(health))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, state)
}

async fn health(State(h): State<Arc<Health>>) -> (StatusCode, [(&'static str, String); 1], String) {
    let n = h.hits.fetch_add(1, Ordering::SeqCst);
    let mode = *h.mode.lock().unwrap_or_else(PoisonError::into_inner);
    match mode {
        Mode::FailFirst(k) if n < k => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("x-probe", n.to_string())],
            "starting".into(),
        ),
        Mode::FailFirst(_) => (
            StatusCode::OK,
            [("x-probe", n.to_string())],
            "status: ok".into(),
        ),
        Mode::AlwaysFail => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("x-probe", n.to_string())],
            "broken".into(),
        ),
        Mode::Hang => std::future::pending().await,
        Mode::RedirectAway => (
            StatusCode::FOUND,
            [("location", "http://198.51.100.7/health".to_owned())],
            String::new(),
        ),
    }
}
