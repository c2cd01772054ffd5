//! A loopback HTTP server for tests that replay recorded node answers or
//! inject faults: `handler(method, url, body, authorization) -> (status,
//! body)`. It counts requests and stops when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub type Handler = Arc<dyn Fn(&str, &str, &str, Option<&str>) -> (u16, String) + Send + Sync>;

pub struct Replay {
    pub url: String,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Requests answered so far.
    pub hits: Arc<AtomicUsize>,
}

impl Replay {
    pub fn start(handler: Handler) -> Replay {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let s = server.clone();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let thread = std::thread::spawn(move || {
            for mut req in s.incoming_requests() {
                h.fetch_add(1, Ordering::SeqCst);
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let auth = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                    .map(|h| h.value.as_str().to_owned());
                let (status, text) =
                    handler(req.method().as_str(), req.url(), &body, auth.as_deref());
                let _ =
                    req.respond(tiny_http::Response::from_string(text).with_status_code(status));
            }
        });
        Replay {
            url: format!("http://127.0.0.1:{port}"),
            server,
            thread: Some(thread),
            hits,
        }
    }

    /// A server whose answer depends on the request body only (JSON-RPC).
    pub fn on_body(handler: impl Fn(&str) -> (u16, String) + Send + Sync + 'static) -> Replay {
        Replay::start(Arc::new(move |_, _, body, _| handler(body)))
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
