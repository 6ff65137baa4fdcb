//! The text of `kroute bgp peers` and `kroute bgp routes`: aligned columns
//! with a header line, like `gobgp neighbor` and `gobgp global rib`.

use std::fmt::Write as _;

use super::bgp_doc::{PathDoc, PeerRoutesDoc, PeersDoc, RibDoc};

/// Columns padded to their widest cell, two spaces apart; the last column
/// is not padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `HH:MM:SS`, with `Nd ` in front from one day on.
pub fn uptime(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let hms = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if days > 0 {
        format!("{days}d {hms}")
    } else {
        hms
    }
}

fn list<T: ToString>(items: &[T], empty: &str) -> String {
    if items.is_empty() {
        return empty.to_string();
    }
    items.iter().map(T::to_string).collect::<Vec<_>>().join(" ")
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

impl PeersDoc {
    /// One line per peer.
    pub fn render_text(&self) -> String {
        if self.peers.is_empty() {
            return "no BGP peers configured\n".to_string();
        }
        let rows: Vec<Vec<String>> = self
            .peers
            .iter()
            .map(|p| {
                vec![
                    p.address.to_string(),
                    p.asn.to_string(),
                    p.state.clone(),
                    p.uptime_seconds.map_or_else(|| "never".into(), uptime),
                    format!("{}/{}", p.routes_sent, p.routes_received),
                    format!("{}/{}", p.updates_sent, p.updates_received),
                    p.last_down
                        .as_ref()
                        .map_or_else(|| "-".into(), |d| d.text.clone()),
                ]
            })
            .collect();
        table(
            &[
                "PEER",
                "AS",
                "STATE",
                "UPTIME",
                "ROUTES SENT/RECV",
                "UPDATES SENT/RECV",
                "LAST DOWN",
            ],
            &rows,
        )
    }
}

impl RibDoc {
    /// One line per originated route.
    pub fn render_text(&self) -> String {
        if self.routes.is_empty() {
            return "no routes originated\n".to_string();
        }
        let rows: Vec<Vec<String>> = self
            .routes
            .iter()
            .map(|r| {
                vec![
                    r.prefix.to_string(),
                    r.next_hop
                        .map_or_else(|| "self".to_string(), |h| h.to_string()),
                    list(&r.communities, "-"),
                    opt(r.local_pref),
                    list(&r.prepend, "-"),
                    list(&r.peers, "(no peer)"),
                ]
            })
            .collect();
        table(
            &[
                "PREFIX",
                "NEXT HOP",
                "COMMUNITIES",
                "LOCAL PREF",
                "PREPEND",
                "PEERS",
            ],
            &rows,
        )
    }
}

fn path_table(routes: &[PathDoc]) -> String {
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|r| {
            vec![
                r.prefix.to_string(),
                r.next_hop.to_string(),
                list(&r.as_path, "-"),
                r.origin.clone(),
                opt(r.med),
                opt(r.local_pref),
                list(
                    &[r.communities.clone(), r.large_communities.clone()].concat(),
                    "-",
                ),
            ]
        })
        .collect();
    let text = table(
        &[
            "PREFIX",
            "NEXT HOP",
            "AS PATH",
            "ORIGIN",
            "MED",
            "LOCAL PREF",
            "COMMUNITIES",
        ],
        &rows,
    );
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn routes(n: usize) -> String {
    if n == 1 {
        "1 route".to_string()
    } else {
        format!("{n} routes")
    }
}

impl PeerRoutesDoc {
    /// The advertised routes (when asked for), then the received ones.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if let Some(advertised) = &self.advertised {
            let _ = writeln!(
                out,
                "advertised to {} ({}):",
                self.peer,
                routes(advertised.len())
            );
            if !advertised.is_empty() {
                out.push_str(&path_table(advertised));
            }
        }
        let _ = writeln!(
            out,
            "received from {} ({}):",
            self.peer,
            routes(self.received.len())
        );
        if !self.received.is_empty() {
            out.push_str(&path_table(&self.received));
        }
        out
    }
}
