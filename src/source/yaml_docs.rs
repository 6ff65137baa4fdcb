//! Splitting a YAML stream into its documents, remembering where each starts.
//!
//! serde-saphyr reports error lines relative to the text it was given, and its
//! multi-document API takes no `DeserializeSeed`, so we deserialize one
//! document at a time and translate its lines back to file lines ourselves.

/// One document of a YAML stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlDoc<'a> {
    /// 1-based line in the stream where `text` begins.
    pub first_line: usize,
    /// The document's text, including its `---` / `...` markers if any.
    pub text: &'a str,
}

impl YamlDoc<'_> {
    /// Converts a 1-based line inside `text` into a 1-based line of the stream.
    pub fn stream_line(&self, line_in_doc: u64) -> usize {
        let offset = usize::try_from(line_in_doc.saturating_sub(1)).unwrap_or(usize::MAX);
        self.first_line.saturating_add(offset)
    }
}

/// Splits `stream` at document markers. Documents without any content (only
/// blank lines, comments, directives or markers) are left out.
///
/// YAML forbids `---` and `...` at the start of a line followed by white space
/// or a line end anywhere inside a document (even inside block scalars and
/// quoted strings), so a line-based split agrees with a real parser.
pub fn split_documents(stream: &str) -> Vec<YamlDoc<'_>> {
    let mut docs = Vec::new();
    let mut current = Chunk::starting_at(0, 1);
    let mut offset = 0;
    for (index, line) in stream.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_marker(bare, "---") {
            // A `---` ends the previous document unless that one has not
            // started yet (only comments or directives so far): then it is
            // that document's explicit start.
            if current.started {
                current.finish(stream, offset, &mut docs);
                current = Chunk::starting_at(offset, line_no);
            }
            current.started = true;
            current.has_content |= !bare[3..].trim().is_empty();
        } else if is_marker(bare, "...") {
            current.finish(stream, offset + line.len(), &mut docs);
            current = Chunk::starting_at(offset + line.len(), line_no + 1);
        } else {
            let trimmed = bare.trim();
            let blank = trimmed.is_empty() || trimmed.starts_with('#');
            let directive = !current.started && bare.starts_with('%');
            if !blank && !directive {
                current.started = true;
                current.has_content = true;
            }
        }
        offset += line.len();
    }
    current.finish(stream, offset, &mut docs);
    docs
}

/// The document being collected.
struct Chunk {
    start: usize,
    first_line: usize,
    /// Seen `---` or content: a further `---` starts the next document.
    started: bool,
    /// Seen something other than comments, directives and markers.
    has_content: bool,
}

impl Chunk {
    fn starting_at(start: usize, first_line: usize) -> Chunk {
        Chunk {
            start,
            first_line,
            started: false,
            has_content: false,
        }
    }

    fn finish<'a>(&self, stream: &'a str, end: usize, docs: &mut Vec<YamlDoc<'a>>) {
        if self.has_content {
            docs.push(YamlDoc {
                first_line: self.first_line,
                text: &stream[self.start..end],
            });
        }
    }
}

/// `---` or `...` alone, or followed by white space (`--- !tag`, `--- {a: 1}`).
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_and_texts(stream: &str) -> Vec<(usize, &str)> {
        split_documents(stream)
            .into_iter()
            .map(|d| (d.first_line, d.text))
            .collect()
    }

    #[test]
    fn implicit_first_document_and_explicit_ones() {
        let s = "a: 1\n---\nb: 2\n---\nc: 3\n";
        assert_eq!(
            lines_and_texts(s),
            vec![(1, "a: 1\n"), (2, "---\nb: 2\n"), (4, "---\nc: 3\n")]
        );
    }

    #[test]
    fn leading_marker_comments_and_directives_belong_to_the_first_document() {
        let s = "# header\n%YAML 1.2\n---\na: 1\n";
        assert_eq!(lines_and_texts(s), vec![(1, s)]);
    }

    #[test]
    fn empty_documents_are_skipped() {
        let s = "---\n# nothing\n---\n\n---\na: 1\n---\n";
        assert_eq!(lines_and_texts(s), vec![(5, "---\na: 1\n")]);
    }

    #[test]
    fn content_on_the_marker_line_counts() {
        let s = "--- {a: 1}\n--- !!str x\n";
        assert_eq!(
            lines_and_texts(s),
            vec![(1, "--- {a: 1}\n"), (2, "--- !!str x\n")]
        );
    }

    #[test]
    fn document_end_marker_closes_a_document() {
        let s = "a: 1\n...\nb: 2\n...\n";
        assert_eq!(
            lines_and_texts(s),
            vec![(1, "a: 1\n...\n"), (3, "b: 2\n...\n")]
        );
    }

    #[test]
    fn dashes_that_are_not_markers_stay_inside() {
        let s = "a: |\n  ---\n----\nb: ---x\n";
        assert_eq!(lines_and_texts(s), vec![(1, s)]);
    }

    #[test]
    fn crlf_line_ends() {
        let s = "a: 1\r\n---\r\nb: 2\r\n";
        assert_eq!(
            lines_and_texts(s),
            vec![(1, "a: 1\r\n"), (2, "---\r\nb: 2\r\n")]
        );
    }

    #[test]
    fn stream_line_translates_document_lines() {
        let doc = YamlDoc {
            first_line: 40,
            text: "",
        };
        assert_eq!(doc.stream_line(1), 40);
        assert_eq!(doc.stream_line(3), 42);
    }
}
