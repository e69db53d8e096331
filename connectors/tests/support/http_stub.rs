//! A loopback HTTP/1.1 stub for tests of REST clients: one request per connection
//! (`Connection: close`), the request line and headers parsed, the response written by the
//! test's handler. Shared by the connectors and topology test suites (`#[path]` include); each
//! test supplies only what its venue answers (pages, 429s, 401s, disconnects).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

/// A request as the stub read it.
pub struct Request {
    /// The request line, e.g. `GET /api/v3/aggTrades?symbol=XRPETH&limit=1000 HTTP/1.1\r\n`.
    pub line: String,
    /// The request target (path and query).
    pub target: String,
    /// Header lines, each with its `\r\n`.
    pub headers: Vec<String>,
}

impl Request {
    /// True when a header line equals `header` (e.g. `authorization: Apikey k`), ignoring case.
    pub fn has_header(&self, header: &str) -> bool {
        self.headers.iter().any(|h| h.trim_end().eq_ignore_ascii_case(header))
    }
    /// The value of query parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.target.split(['?', '&']).find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
    }
}

/// Reads a request's line and header lines.
pub fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            return Some(Request { line, target, headers });
        }
        headers.push(h);
    }
}

/// Writes a response; `headers` are extra header lines, each ending in `\r\n`.
pub fn respond(stream: &mut TcpStream, status: &str, headers: &str, body: &str) {
    let _ = write!(stream, "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
}

/// A JSON response.
pub fn respond_json(stream: &mut TcpStream, status: &str, body: &str) {
    respond(stream, status, "Content-Type: application/json\r\n", body);
}

/// Serves on a free 127.0.0.1 port from a background thread, calling `handle` for every request
/// (it writes the response, or drops the stream to disconnect); returns the base URL.
pub fn serve(mut handle: impl FnMut(&Request, &mut TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            if let Some(req) = read_request(&stream) {
                handle(&req, &mut stream);
            }
        }
    });
    url
}
