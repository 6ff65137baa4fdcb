//! Test side: reads what `nft --debug=mnl` prints (libmnl's dump of every
//! message it sends) back into messages, and renders a message's attributes
//! as a tree of lines, normalized where nft and kroute may differ without
//! the kernel seeing a difference (set ids; how elements share messages).

use std::collections::BTreeMap;

/// One dumped message: its type and its payload (nfgenmsg and attributes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dumped {
    pub msg_type: u16,
    pub payload: Vec<u8>,
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn cells(line: &str) -> Vec<String> {
    line.split('|').map(|c| c.trim().to_string()).collect()
}

/// Every message of a dump, in order.
pub fn parse(text: &str) -> Vec<Dumped> {
    let lines: Vec<String> = text.lines().map(strip_ansi).collect();
    let mut out: Vec<Dumped> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let c = cells(&lines[i]);
        if c.len() > 3 && c[3] == "message length" {
            let t = cells(&lines[i + 1]);
            out.push(Dumped {
                msg_type: t[1].parse().expect("message type"),
                payload: Vec::new(),
            });
            i += 5;
            continue;
        }
        if let Some(cur) = out.last_mut() {
            if lines[i].contains("|len |flags| type|") {
                let len: u16 = c[1].parse().expect("attribute length");
                let mut kind: u16 = c[3].parse().expect("attribute type");
                if c[2].starts_with('N') {
                    kind |= 0x8000;
                }
                if c[2].ends_with('B') {
                    kind |= 0x4000;
                }
                cur.payload.extend(len.to_le_bytes());
                cur.payload.extend(kind.to_le_bytes());
            } else if c.len() > 3 && (c[3] == "data" || c[3] == "extra header") {
                for byte in c[1].split_whitespace() {
                    cur.payload
                        .push(u8::from_str_radix(byte, 16).expect("hex byte"));
                }
            }
        }
        i += 1;
    }
    out
}

/// The messages between the batch begin and the batch end.
pub fn batch(text: &str) -> Vec<Dumped> {
    let all = parse(text);
    let begin = all
        .iter()
        .position(|m| m.msg_type == 16)
        .expect("batch begin");
    let end = all
        .iter()
        .rposition(|m| m.msg_type == 17)
        .expect("batch end");
    all[begin + 1..end].to_vec()
}

/// An attribute: its type (flags stripped), and its value or children.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Attr {
    Value(u16, Vec<u8>),
    Nest(u16, Vec<Attr>),
}

fn attrs(mut bytes: &[u8]) -> Vec<Attr> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = usize::from(u16::from_le_bytes([bytes[0], bytes[1]]));
        let kind = u16::from_le_bytes([bytes[2], bytes[3]]);
        if len < 4 || len > bytes.len() {
            break;
        }
        let value = &bytes[4..len];
        out.push(if kind & 0x8000 != 0 {
            Attr::Nest(kind & 0x3fff, attrs(value))
        } else {
            Attr::Value(kind & 0x3fff, value.to_vec())
        });
        bytes = &bytes[((len + 3) & !3).min(bytes.len())..];
    }
    out
}

fn render(attr: &Attr, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    match attr {
        Attr::Value(k, v) => {
            let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
            out.push_str(&format!("{pad}{k}: {hex}\n"));
        }
        Attr::Nest(k, children) => {
            out.push_str(&format!("{pad}{k} {{\n"));
            for c in children {
                render(c, depth + 1, out);
            }
            out.push_str(&format!("{pad}}}\n"));
        }
    }
}

fn name_of(attrs: &[Attr], kind: u16) -> Option<String> {
    attrs.iter().find_map(|a| match a {
        Attr::Value(k, v) if *k == kind => Some(
            String::from_utf8_lossy(v)
                .trim_end_matches('\0')
                .to_string(),
        ),
        _ => None,
    })
}

/// Set ids: dropped for named sets (the kernel finds them by name),
/// renumbered by first appearance for anonymous ones.
struct Ids(BTreeMap<u32, u32>);

impl Ids {
    fn fix(&mut self, attrs: &mut Vec<Attr>, name_kind: u16, id_kind: u16) {
        let anonymous = name_of(attrs, name_kind).is_some_and(|n| n.starts_with("__"));
        if !anonymous {
            attrs.retain(|a| !matches!(a, Attr::Value(k, _) if *k == id_kind));
            return;
        }
        let next = self.0.len() as u32 + 1;
        for a in attrs.iter_mut() {
            if let Attr::Value(k, v) = a
                && *k == id_kind
                && v.len() == 4
            {
                let old = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                let new = *self.0.entry(old).or_insert(next);
                *v = new.to_be_bytes().to_vec();
            }
        }
    }

    /// Lookups and dynsets inside a rule's expressions.
    fn fix_exprs(&mut self, attrs: &mut [Attr]) {
        for a in attrs {
            let Attr::Nest(4, exprs) = a else { continue };
            for e in exprs {
                let Attr::Nest(_, parts) = e else { continue };
                let name = name_of(parts, 1);
                for p in parts.iter_mut() {
                    if let Attr::Nest(2, data) = p {
                        match name.as_deref() {
                            Some("lookup") => self.fix(data, 1, 4),
                            Some("dynset") => self.fix(data, 1, 2),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}

/// The interval end at 0 that nft puts in each add to an interval set
/// (kroute puts one per message; `batch_tests` checks that apart).
fn is_bottom_end(parts: &[Attr]) -> bool {
    let end = parts
        .iter()
        .any(|p| matches!(p, Attr::Value(3, v) if v == &[0, 0, 0, 1]));
    let zero_key = parts.iter().any(|p| matches!(p, Attr::Nest(1, k) if k.iter().all(|v| matches!(v, Attr::Value(1, b) if b.iter().all(|x| *x == 0)))));
    end && zero_key
}

/// The batch as lines to compare: one block per message, an element
/// message split into one block per element, sorted within a run of
/// element messages to one set (nft reorders the commands of such a run;
/// the kernel applies them as a whole).
pub fn normalized(messages: &[Dumped]) -> Vec<String> {
    let mut ids = Ids(BTreeMap::new());
    let mut out: Vec<String> = Vec::new();
    // The current run of element blocks: its set header and first block.
    let mut run: Option<(String, usize)> = None;
    for m in messages {
        let head = format!(
            "type {}/{} family {}",
            m.msg_type >> 8,
            m.msg_type & 0xff,
            m.payload[0]
        );
        let mut top = attrs(&m.payload[4..]);
        match m.msg_type & 0xff {
            9 => ids.fix(&mut top, 2, 10),
            12 | 14 => {
                ids.fix(&mut top, 2, 4);
                let mut rest = String::new();
                let mut elements = Vec::new();
                for a in &top {
                    match a {
                        Attr::Nest(3, elems) => elements.extend(elems.iter().cloned()),
                        other => render(other, 1, &mut rest),
                    }
                }
                let named = name_of(&top, 2).is_some_and(|n| !n.starts_with("__"));
                let key = format!("{head}\n{rest}");
                if run.as_ref().is_none_or(|(k, _)| *k != key) {
                    run = Some((key, out.len()));
                }
                for e in elements {
                    // nft numbers the list items; the kernel ignores it.
                    let Attr::Nest(_, parts) = e else { continue };
                    if named && is_bottom_end(&parts) {
                        continue;
                    }
                    let e = Attr::Nest(1, parts);
                    let mut block = format!("{head}\n{rest}");
                    render(&e, 1, &mut block);
                    out.push(block);
                }
                if let Some((_, start)) = &run {
                    out[*start..].sort();
                }
                continue;
            }
            6 => ids.fix_exprs(&mut top),
            _ => {}
        }
        run = None;
        let mut block = format!("{head}\n");
        for a in &top {
            render(a, 1, &mut block);
        }
        out.push(block);
    }
    out
}
