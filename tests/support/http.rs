//! A plain HTTP/1.1 GET from inside a namespace (no client library: the
//! answers under test are small and `Connection: close`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::netns::NetNs;
use super::ns_thread;

/// An answer: status code, headers (names lowercased), body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub code: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` to `addr` from inside `ns`; `Err` when nothing answers
/// (refused, timed out) or the answer is not HTTP.
pub fn try_get(ns: &NetNs, addr: SocketAddr, path: &str) -> Result<Answer, String> {
    let path = path.to_string();
    ns_thread::run(&ns.path(), move || {
        let fail = |e: std::io::Error| format!("{addr}: {e}");
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(fail)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(fail)?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .map_err(fail)?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw).map_err(fail)?;
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("{addr}: no end of headers in {raw:?}"))?;
        let mut lines = head.lines();
        let code = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("{addr}: no status line in {head:?}"))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Answer {
            code,
            headers,
            body: body.to_string(),
        })
    })
}

/// [`try_get`], panicking when nothing answers: (status code, body).
pub fn get(ns: &NetNs, addr: SocketAddr, path: &str) -> (u16, String) {
    let answer = try_get(ns, addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (answer.code, answer.body)
}
