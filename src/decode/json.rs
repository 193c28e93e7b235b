//! The JSON layer: simd-json parses the record value in place; we copy its tape into a node list
//! that refers to the input by offset, so the tape's borrow of the input ends right after the
//! parse and everything later reads the input as plain `&[u8]` (no unsafe aliasing).
//!
//! The record value arrives in a buffer of ours (`&mut Vec<u8>`), so the parse appends
//! simd-json's padding to it and removes it afterwards: simd-json then reads the value where it
//! is instead of copying it into a padded buffer of its own first (`fill_tape_padded`).
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
    /// `input` is the same length afterwards; its capacity may have grown by the padding.
    pub(crate) fn parse(&mut self, input: &mut Vec<u8>) -> Result<(), SyntaxError> {
        let input_len = input.len();
        // Before the padding, which would copy a value this large only to refuse it.
        if input_len > u32::MAX as usize {
            return Err(SyntaxError("record value larger than 4 GiB".into()));
        }
        // The padding's content does not matter to simd-json; spaces keep it valid text.
        input.resize(input_len + simd_json::INPUT_PADDING, b' ');
        let result = self.parse_padded(input, input_len);
        input.truncate(input_len);
        result
    }

    /// Parses `input[..input_len]`; the rest of `input` is simd-json's padding.
    fn parse_padded(&mut self, input: &mut [u8], input_len: usize) -> Result<(), SyntaxError> {
        self.nodes.clear();
        self.offsets_ready = false;
        let base = input.as_ptr() as usize;
        let mut tape = self
            .tape
            .take()
            .unwrap_or_else(|| Tape::null().reset())
            .reset();
        let result = simd_json::fill_tape_padded(input, input_len, &mut self.buffers, &mut tape);
        if let Err(e) = result {
            self.tape = Some(tape.reset());
            return Err(SyntaxError(e.to_string()));
        }
        let mut outside = false;
        // Strings live inside the input (simd-json unescapes in place); anything else would be
        // a change in simd-json that we must not paper over. The flag fails the whole message
        // (and drops the nodes), so the check need not branch per node.
        // `extend` over a slice iterator writes without a capacity check per node.
        self.nodes.extend(tape.0.iter().map(|node| {
            let (node, inside) = node_of(*node, base, input_len);
            outside |= !inside;
            node
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

/// Our node for a tape node, a string's range taken relative to `base` (the input's address),
/// and whether that range lies inside the input's `input_len` bytes (always, for other nodes).
#[inline(always)]
fn node_of(node: TapeNode<'_>, base: usize, input_len: usize) -> (Node, bool) {
    match node {
        TapeNode::String(s) => {
            let len = s.len();
            let start = if len == 0 {
                0
            } else {
                (s.as_ptr() as usize).wrapping_sub(base)
            };
            let inside = start.checked_add(len).is_some_and(|end| end <= input_len);
            let node = Node::Str {
                start: start as u32,
                len: len as u32,
            };
            (node, inside)
        }
        TapeNode::Object { len, count } => {
            let node = Node::Object {
                len: len as u32,
                count: count as u32,
            };
            (node, true)
        }
        TapeNode::Array { len, count } => {
            let node = Node::Array {
                len: len as u32,
                count: count as u32,
            };
            (node, true)
        }
        TapeNode::Static(StaticNode::Null) => (Node::Null, true),
        TapeNode::Static(StaticNode::Bool(b)) => (Node::Bool(b), true),
        TapeNode::Static(_) => (Node::Number, true),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What simd-json's own copying parse (`fill_tape`) makes of `data`: our nodes, with string
    /// ranges relative to the input, and the input after unescaping.
    fn reference(data: &[u8]) -> Option<(Vec<Node>, Vec<u8>)> {
        let mut input = data.to_vec();
        let base = input.as_ptr() as usize;
        let mut buffers = Buffers::new(input.len());
        let mut tape = Tape::null().reset();
        simd_json::fill_tape(&mut input, &mut buffers, &mut tape).ok()?;
        let nodes = tape
            .0
            .iter()
            .map(|node| {
                let (node, inside) = node_of(*node, base, data.len());
                assert!(inside, "simd-json returned a string outside the input");
                node
            })
            .collect();
        drop(tape);
        Some((nodes, input))
    }

    /// The padded parse reads and unescapes in one buffer where `fill_tape` reads a copy: every
    /// input of the decoders' fuzz corpora (escapes, truncations, invalid UTF-8, numbers at the
    /// end …) must give the same nodes, the same unescaped bytes and the same verdict, with one
    /// parser reused across inputs as a decoder reuses it.
    #[test]
    fn the_padded_parse_agrees_with_simd_jsons_copying_parse_on_the_fuzz_corpora() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut parser = Parser::default();
        let (mut inputs, mut parsed) = (0, 0);
        for dir in [
            "corpus/decode_canal",
            "corpus/decode_cloudcanal",
            "corpus/encode_roundtrip",
            "regressions/decode_canal",
            "regressions/decode_cloudcanal",
        ] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries {
                let data = std::fs::read(entry.unwrap().path()).unwrap();
                let mut input = data.clone();
                let ours = parser.parse(&mut input).ok().map(|()| parser.nodes.clone());
                let theirs = reference(&data);
                assert_eq!(input.len(), data.len());
                match (ours, theirs) {
                    (Some(nodes), Some((ref_nodes, ref_input))) => {
                        assert_eq!(nodes, ref_nodes, "{data:?}");
                        assert_eq!(input, ref_input, "{data:?}");
                        parsed += 1;
                    }
                    (None, None) => {}
                    (ours, theirs) => panic!(
                        "verdicts differ on {data:?}: padded {}, copying {}",
                        ours.is_some(),
                        theirs.is_some()
                    ),
                }
                inputs += 1;
            }
        }
        assert!(inputs > 1000, "only {inputs} corpus inputs found");
        // Not vacuous: most of the corpora is JSON (about 3,500 of 4,100 inputs).
        assert!(
            parsed > 1000,
            "only {parsed} of {inputs} corpus inputs parsed"
        );
    }

    /// Pieces of JSON text, heavy in what the padded parse could get wrong: strings and
    /// numbers that end at the last byte (where the padding starts), invalid UTF-8 and stray
    /// escapes. Most sequences of them are not JSON; the verdicts must agree too.
    const PIECES: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b":",
        b",",
        b"\"",
        b"\\",
        b"\\n",
        b"a",
        b" ",
        b"\n",
        b"1",
        b"-0.5e3",
        b"18446744073709551616",
        b"true",
        b"null",
        "é".as_bytes(),
        b"\xff",
        b"\x01",
        b"\\ud800",
        b"\\uZZZZ",
        b"\\u12",
    ];

    /// Pieces that are valid inside a JSON string: escapes whose unescaped form is shorter than
    /// their text (so unescaping writes behind where it reads), and multi-byte text.
    const STRING_PIECES: &[&[u8]] = &[
        b"\\\"",
        b"\\\\",
        b"\\n",
        b"\\/",
        b"\\u00e9",
        b"\\ud83d\\ude00",
        b"\\u0000",
        b"a",
        b"key",
        b" ",
        b"{",
        b":",
        "é".as_bytes(),
        "李".as_bytes(),
        "😀".as_bytes(),
    ];

    proptest::proptest! {
        /// An object of escape-heavy string values (`values` of them), or with none a root-level
        /// string (both valid JSON, ending at the last byte), followed by random pieces or not.
        #[test]
        fn the_padded_parse_agrees_with_simd_jsons_copying_parse_on_escape_heavy_text(
            picks in proptest::collection::vec(0..PIECES.len(), 0..80),
            string_picks in proptest::collection::vec(0..STRING_PIECES.len(), 0..80),
            values in 0..4usize,
            tail in proptest::bool::ANY,
        ) {
            let mut data: Vec<u8> = Vec::new();
            if values > 0 {
                data.push(b'{');
                for v in 0..values {
                    if v > 0 {
                        data.push(b',');
                    }
                    data.extend_from_slice(format!("\"k{v}\":\"").as_bytes());
                    for &i in string_picks.iter().skip(v) {
                        data.extend_from_slice(STRING_PIECES[i]);
                    }
                    data.push(b'"');
                }
                data.push(b'}');
            } else {
                data.push(b'"');
                for &i in &string_picks {
                    data.extend_from_slice(STRING_PIECES[i]);
                }
                data.push(b'"');
            }
            for &i in picks.iter().filter(|_| tail) {
                data.extend_from_slice(PIECES[i]);
            }
            let mut input = data.clone();
            let mut parser = Parser::default();
            let ours = parser.parse(&mut input).ok().map(|()| parser.nodes.clone());
            proptest::prop_assert_eq!(input.len(), data.len());
            match (ours, reference(&data)) {
                (Some(nodes), Some((ref_nodes, ref_input))) => {
                    proptest::prop_assert_eq!(nodes, ref_nodes);
                    proptest::prop_assert_eq!(input, ref_input);
                }
                (None, None) => {}
                (ours, theirs) => proptest::prop_assert!(
                    false,
                    "verdicts differ: padded {}, copying {}",
                    ours.is_some(),
                    theirs.is_some()
                ),
            }
        }
    }
}
