//! A small HTTP front for the registry, for tests that need to see or bend the traffic: a
//! handler sees each request and answers it itself, or forwards it to the registry
//! (optionally cutting the answer short). One request per connection: every answer says
//! `Connection: close`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// A request as the front read it.
pub struct Request {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Lowercased names.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to do with a request.
pub enum Action {
    /// Forward it (without its Authorization); with `cut_after`, close the connection after
    /// that many bytes of the answer; with `strip_range`, without its `Range` header (a
    /// registry that does not do ranges).
    Forward {
        cut_after: Option<usize>,
        strip_range: bool,
    },
    /// Answer it with this status line, headers and body.
    Respond {
        status: &'static str,
        headers: Vec<String>,
        body: Vec<u8>,
    },
}

pub type Handler = dyn Fn(&Request) -> Action + Send + Sync;

/// The front; stops accepting when dropped.
pub struct Front {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Front {
    pub fn start(backend: u16, handler: Arc<Handler>) -> Front {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        let h = handler.clone();
                        std::thread::spawn(move || {
                            let _ = serve(backend, &*h, conn);
                        });
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Front {
            port,
            stop,
            thread: Some(thread),
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(backend: u16, handler: &Handler, conn: TcpStream) -> std::io::Result<()> {
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let req = Request {
        method,
        target,
        headers,
    };
    let len: usize = req
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let mut out = conn;
    match handler(&req) {
        Action::Respond {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status}\r\n");
            for h in headers {
                head.push_str(&h);
                head.push_str("\r\n");
            }
            head.push_str(&format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ));
            out.write_all(head.as_bytes())?;
            out.write_all(&body)
        }
        Action::Forward {
            cut_after,
            strip_range,
        } => {
            let mut back = TcpStream::connect((Ipv4Addr::LOCALHOST, backend))?;
            let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
            for (k, v) in &req.headers {
                if k != "authorization" && k != "connection" && !(strip_range && k == "range") {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
            }
            head.push_str("Connection: close\r\n\r\n");
            back.write_all(head.as_bytes())?;
            back.write_all(&body)?;
            match cut_after {
                None => std::io::copy(&mut back, &mut out).map(|_| ()),
                Some(n) => {
                    std::io::copy(&mut (&mut back).take(n as u64), &mut out)?;
                    // Reset, not a clean close: the client must see a broken transfer.
                    out.flush()?;
                    drop(back);
                    out.shutdown(std::net::Shutdown::Both)
                }
            }
        }
    }
}
