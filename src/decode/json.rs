//! The JSON layer: simd-json parses the record value in place; we copy its tape into a node list
//! that refers to the input by offset, so the tape's borrow of the input ends right after the
//! parse and everything later reads the input as plain `&[u8]` (no unsafe aliasing).
//!
//! simd-json keeps numbers only as i64/u64/f64, which would corrupt `18446744073709551615`-sized
//! or 65-digit values (formats.md §5.1). Number lexemes are therefore recovered from the input:
//! every tape node starts at one "value start" structural index of stage 1 (`{`, `[`, `"`, or
//! the first byte of a scalar), in document order, so node *i* begins at the *i*-th such index.
//! That map is built only for messages that actually carry a number where its text matters.

use simd_json::{Buffers, Node as TapeNode, StaticNode, Tape};

/// A JSON node, with strings as byte ranges of the (unescaped-in-place) input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Str {
        start: u32,
        len: u32,
    },
    /// `len` members; the object spans `count` nodes after this one.
    Object {
        len: u32,
        count: u32,
    },
    Array {
        len: u32,
        count: u32,
    },
    Null,
    Bool(bool),
    /// A number; its lexeme is found through [`Parsed::number_lexeme`].
    Number,
}

impl Node {
    /// Nodes taken by this value including itself.
    pub(crate) fn span(self) -> usize {
        match self {
            Node::Object { count, .. } | Node::Array { count, .. } => count as usize + 1,
            _ => 1,
        }
    }
}

/// Reusable parser state: simd-json buffers, its tape and our node list.
pub(crate) struct Parser {
    buffers: Buffers,
    tape: Option<Tape<'static>>,
    pub(crate) nodes: Vec<Node>,
    /// Input offset of each node; filled lazily by [`Parser::node_offsets`].
    offsets: Vec<u32>,
    offsets_ready: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            buffers: Buffers::new(4096),
            tape: Some(Tape::null().reset()),
            nodes: Vec::new(),
            offsets: Vec::new(),
            offsets_ready: false,
        }
    }
}

/// simd-json's error message (its offset is relative to the record value).
#[derive(Debug)]
pub(crate) struct SyntaxError(pub String);

impl Parser {
    /// Parses `input` in place. Afterwards strings in `input` are unescaped at their node ranges.
    pub(crate) fn parse(&mut self, input: &mut [u8]) -> Result<(), SyntaxError> {
        if input.len() > u32::MAX as usize {
            return Err(SyntaxError("record value larger than 4 GiB".into()));
        }
        self.nodes.clear();
        self.offsets_ready = false;
        let base = input.as_ptr() as usize;
        let input_len = input.len();
        let mut tape = self
            .tape
            .take()
            .unwrap_or_else(|| Tape::null().reset())
            .reset();
        let result = simd_json::fill_tape(input, &mut self.buffers, &mut tape);
        if let Err(e) = result {
            self.tape = Some(tape.reset());
            return Err(SyntaxError(e.to_string()));
        }
        let mut outside = false;
        // `extend` over a slice iterator writes without a capacity check per node.
        self.nodes.extend(tape.0.iter().map(|node| match *node {
            TapeNode::String(s) => {
                // Strings live inside the input (simd-json unescapes in place); anything else
                // would be a change in simd-json that we must not paper over. The flag fails the
                // whole message (and drops the nodes), so the check need not branch per node.
                let len = s.len();
                let start = if len == 0 {
                    0
                } else {
                    (s.as_ptr() as usize).wrapping_sub(base)
                };
                outside |= start.checked_add(len).is_none_or(|end| end > input_len);
                Node::Str {
                    start: start as u32,
                    len: len as u32,
                }
            }
            TapeNode::Object { len, count } => Node::Object {
                len: len as u32,
                count: count as u32,
            },
            TapeNode::Array { len, count } => Node::Array {
                len: len as u32,
                count: count as u32,
            },
            TapeNode::Static(StaticNode::Null) => Node::Null,
            TapeNode::Static(StaticNode::Bool(b)) => Node::Bool(b),
            TapeNode::Static(_) => Node::Number,
        }));
        self.tape = Some(tape.reset());
        if outside {
            // Its string nodes may point anywhere: nothing may read them.
            self.nodes.clear();
            return Err(SyntaxError(
                "simd-json returned a string outside the record value".into(),
            ));
        }
        Ok(())
    }

    /// Maps node index → input offset of its first byte (built once per message, on demand).
    fn node_offsets(&mut self, input: &[u8]) -> &[u32] {
        if !self.offsets_ready {
            self.offsets.clear();
            for &idx in self.buffers.structural_indexes() {
                match input.get(idx as usize) {
                    Some(b':' | b',' | b'}' | b']') | None => {}
                    Some(_) => self.offsets.push(idx),
                }
            }
            self.offsets_ready = true;
        }
        &self.offsets
    }

    /// The exact text of the number at node `i`, as `(start, len)` in the input.
    pub(crate) fn number_lexeme(&mut self, input: &[u8], i: usize) -> (u32, u32) {
        let Some(&start) = self.node_offsets(input).get(i) else {
            return (0, 0);
        };
        let len = input[start as usize..]
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(input.len() - start as usize);
        (start, len as u32)
    }

    /// Writes the value at node `i` as compact JSON, numbers with their exact lexemes.
    pub(crate) fn write_compact(&mut self, input: &[u8], i: usize, out: &mut Vec<u8>) -> usize {
        match self.nodes[i] {
            Node::Str { start, len } => {
                write_json_string(str_at(input, start, len), out);
                1
            }
            Node::Null => {
                out.extend_from_slice(b"null");
                1
            }
            Node::Bool(b) => {
                out.extend_from_slice(if b { b"true" } else { b"false" });
                1
            }
            Node::Number => {
                let (start, len) = self.number_lexeme(input, i);
                out.extend_from_slice(&input[start as usize..(start + len) as usize]);
                1
            }
            Node::Array { len, .. } => {
                out.push(b'[');
                let mut j = i + 1;
                for k in 0..len {
                    if k > 0 {
                        out.push(b',');
                    }
                    j += self.write_compact(input, j, out);
                }
                out.push(b']');
                j - i
            }
            Node::Object { len, .. } => {
                out.push(b'{');
                let mut j = i + 1;
                for k in 0..len {
                    if k > 0 {
                        out.push(b',');
                    }
                    j += self.write_compact(input, j, out);
                    out.push(b':');
                    j += self.write_compact(input, j, out);
                }
                out.push(b'}');
                j - i
            }
        }
    }
}

/// The text of a string node.
pub(crate) fn str_at(input: &[u8], start: u32, len: u32) -> &str {
    let bytes = &input[start as usize..(start + len) as usize];
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: node ranges are the strings simd-json returned (checked to lie inside the input in
    // `Parser::parse`): it validated the record as UTF-8 and unescaped into valid UTF-8, and the
    // input is not modified after parsing. Re-validating here cost ~30 % of decode time.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

fn write_json_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's escaping is the reference; it cannot fail on a Vec.
    let _ = serde_json::to_writer(&mut *out, s);
}
