//! The JSON layer: simd-json parses the record value in place and the decoder reads its tape
//! where it lies, through [`Nodes`], which turns a tape node into our [`Node`] (strings as
//! ranges of the input, with their text) as it is read. No copy of the tape is made: that copy cost about 5 % of
//! decode+encode time (perf/README, "A sixth look").
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

use std::cell::Cell;

use simd_json::{Buffers, Node as TapeNode, StaticNode, Tape};

/// A JSON node, with strings as byte ranges of the (unescaped-in-place) input. A node borrows
/// the parse; what must outlive it keeps the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node<'t> {
    /// `text` is the range's text as simd-json returned it: read while the parse lasts, it
    /// spares slicing the input again.
    Str {
        start: u32,
        len: u32,
        text: &'t str,
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

/// The nodes of one parsed message: simd-json's tape, read in place.
#[derive(Clone, Copy)]
pub(crate) struct Nodes<'t> {
    tape: &'t [TapeNode<'t>],
    /// The input's address, which string ranges are taken from.
    base: usize,
    input_len: usize,
    /// Set when a string read lies outside the input, which fails the message
    /// ([`ParserState::parse`]). Strings the decoder never reads are not checked: their ranges
    /// are never used.
    outside: &'t Cell<bool>,
}

impl<'t> Nodes<'t> {
    /// The text of string node `i` as simd-json returned it (`""` for any other node), without
    /// [`Nodes::at`]'s work: the range and the check that it lies inside the input. For names
    /// that are compared and never kept; a string that is kept, or whose text becomes a value,
    /// is read with [`Nodes::at`], whose check fails a message with a string outside the input.
    #[inline(always)]
    pub(crate) fn str(self, i: usize) -> &'t str {
        match self.tape[i] {
            TapeNode::String(s) => s,
            _ => "",
        }
    }

    /// Nodes taken by value `i` including itself (an object or array spans `count` nodes after
    /// its own), read without making the node.
    #[inline(always)]
    pub(crate) fn span(self, i: usize) -> usize {
        match self.tape[i] {
            TapeNode::Object { count, .. } | TapeNode::Array { count, .. } => count + 1,
            _ => 1,
        }
    }

    /// Node `i` (panics past the end, as a slice index does).
    #[inline(always)]
    pub(crate) fn at(self, i: usize) -> Node<'t> {
        let (node, inside) = node_of(self.tape[i], self.base, self.input_len);
        if inside {
            node
        } else {
            // Strings live inside the input (simd-json unescapes in place); anything else would
            // be a change in simd-json that we must not paper over. Nothing may read such a
            // range, so an empty one stands in until the flag fails the whole message.
            self.outside.set(true);
            Node::Str {
                start: 0,
                len: 0,
                text: "",
            }
        }
    }

    pub(crate) fn get(self, i: usize) -> Option<Node<'t>> {
        (i < self.tape.len()).then(|| self.at(i))
    }

    /// Every node, strings without their text, so that the nodes outlive the parse (the
    /// ranges hold what tests compare).
    #[cfg(test)]
    fn to_vec(self) -> Vec<Node<'static>> {
        (0..self.tape.len())
            .map(|i| self.at(i).range_only())
            .collect()
    }
}

/// What a decoder keeps from message to message: simd-json's buffers and tape, and the map of
/// node offsets.
pub(crate) struct ParserState {
    buffers: Buffers,
    tape: Option<Tape<'static>>,
    offsets: Vec<u32>,
}

impl Default for ParserState {
    fn default() -> Self {
        ParserState {
            buffers: Buffers::new(4096),
            tape: Some(Tape::null().reset()),
            offsets: Vec::new(),
        }
    }
}

/// simd-json's error message (its offset is relative to the record value).
#[derive(Debug)]
pub(crate) struct SyntaxError(pub String);

impl ParserState {
    /// Parses `input` in place and runs `read` on the parse and the input. Afterwards strings
    /// in `input` are unescaped at their node ranges. `input` is the same length afterwards; its
    /// capacity may have grown by the padding. Nothing `read` returns can borrow the parse: the
    /// tape is reused.
    pub(crate) fn parse<R>(
        &mut self,
        input: &mut Vec<u8>,
        read: impl FnOnce(&mut Parsed<'_>, &[u8]) -> R,
    ) -> Result<R, SyntaxError> {
        let input_len = input.len();
        // Before the padding, which would copy a value this large only to refuse it.
        if input_len > u32::MAX as usize {
            return Err(SyntaxError("record value larger than 4 GiB".into()));
        }
        // The padding's content does not matter to simd-json; spaces keep it valid text.
        input.resize(input_len + simd_json::INPUT_PADDING, b' ');
        let result = self.parse_padded(input, input_len, read);
        input.truncate(input_len);
        result
    }

    /// Parses `input[..input_len]`; the rest of `input` is simd-json's padding.
    fn parse_padded<R>(
        &mut self,
        input: &mut [u8],
        input_len: usize,
        read: impl FnOnce(&mut Parsed<'_>, &[u8]) -> R,
    ) -> Result<R, SyntaxError> {
        let mut tape = self
            .tape
            .take()
            .unwrap_or_else(|| Tape::null().reset())
            .reset();
        let padded_len = input.len();
        let ptr = input.as_mut_ptr();
        // From here on the input is reached only through `ptr`.
        // SAFETY: `ptr` and `padded_len` are the input's. simd-json writes through this slice
        // only during `fill_tape_padded` (unescaping strings in place); afterwards its tape's
        // strings only read it.
        let for_simd = unsafe { std::slice::from_raw_parts_mut(ptr, padded_len) };
        let parsed = simd_json::fill_tape_padded(for_simd, input_len, &mut self.buffers, &mut tape);
        if let Err(e) = parsed {
            self.tape = Some(tape.reset());
            return Err(SyntaxError(e.to_string()));
        }
        // SAFETY: a second shared view of the same bytes, derived from the same pointer, made
        // after simd-json's last write. Both it and the tape's strings only read the input, and
        // neither outlives this call (`read`'s result cannot borrow them). Reading the input
        // here is what lets the decoder read the tape in place instead of copying it into a
        // list of nodes that does not borrow the input.
        let view: &[u8] = unsafe { std::slice::from_raw_parts(ptr, input_len) };
        let outside = Cell::new(false);
        let mut parser = Parsed {
            nodes: Nodes {
                tape: &tape.0,
                base: ptr as usize,
                input_len,
                outside: &outside,
            },
            structural: self.buffers.structural_indexes(),
            offsets: &mut self.offsets,
            offsets_ready: false,
        };
        // `parser` borrows the tape until here.
        let out = read(&mut parser, view);
        self.tape = Some(tape.reset());
        if outside.get() {
            return Err(SyntaxError(
                "simd-json returned a string outside the record value".into(),
            ));
        }
        Ok(out)
    }
}

/// One message's parse, while its tape lives: the nodes and the number lexemes.
pub(crate) struct Parsed<'t> {
    pub(crate) nodes: Nodes<'t>,
    /// Stage 1's structural indexes, for [`Parsed::node_offsets`].
    structural: &'t [u32],
    /// Input offset of each node; filled lazily by [`Parsed::node_offsets`].
    offsets: &'t mut Vec<u32>,
    offsets_ready: bool,
}

impl Parsed<'_> {
    /// Maps node index → input offset of its first byte (built once per message, on demand).
    fn node_offsets(&mut self, input: &[u8]) -> &[u32] {
        if !self.offsets_ready {
            self.offsets.clear();
            for &idx in self.structural {
                match input.get(idx as usize) {
                    Some(b':' | b',' | b'}' | b']') | None => {}
                    Some(_) => self.offsets.push(idx),
                }
            }
            self.offsets_ready = true;
        }
        self.offsets
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
        match self.nodes.at(i) {
            Node::Str { text, .. } => {
                write_json_string(text, out);
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

#[cfg(test)]
impl Node<'_> {
    /// The node with a string's text left out.
    fn range_only(self) -> Node<'static> {
        match self {
            Node::Str { start, len, .. } => Node::Str {
                start,
                len,
                text: "",
            },
            Node::Object { len, count } => Node::Object { len, count },
            Node::Array { len, count } => Node::Array { len, count },
            Node::Null => Node::Null,
            Node::Bool(b) => Node::Bool(b),
            Node::Number => Node::Number,
        }
    }
}

/// Our node for a tape node, a string's range taken relative to `base` (the input's address),
/// and whether that range lies inside the input's `input_len` bytes (always, for other nodes).
#[inline(always)]
fn node_of(node: TapeNode<'_>, base: usize, input_len: usize) -> (Node<'_>, bool) {
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
                text: s,
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
    // SAFETY: node ranges are the strings simd-json returned (each checked to lie inside the
    // input as `Nodes::at` reads it; one outside reads as empty and fails the message): it
    // validated the record as UTF-8 and unescaped into valid UTF-8, and the input is not
    // modified after parsing. Re-validating here cost ~30 % of decode time.
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
    fn reference(data: &[u8]) -> Option<(Vec<Node<'static>>, Vec<u8>)> {
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
                node.range_only()
            })
            .collect();
        drop(tape);
        Some((nodes, input))
    }

    /// The decoder reads simd-json's tape in place, strings through their ranges of the input
    /// (unescaped where they lie) and numbers as lexemes of the input, while the tape's own
    /// strings still borrow it. Small enough for Miri, which checks that aliasing:
    /// `cargo +nightly miri test --lib decode::json::tests::the_tape_is_read_in_place`, with
    /// `MIRIFLAGS=-Zmiri-tree-borrows` too.
    #[test]
    fn the_tape_is_read_in_place() {
        let text = br#"{"a\"b":"x\u00e9y","n":[-0.50,18446744073709551616],"t":true,"z":null}"#;
        let mut parser = ParserState::default();
        for _ in 0..2 {
            let mut input = text.to_vec();
            let read = parser.parse(&mut input, |p, input| {
                let nodes = p.nodes.to_vec();
                let strings: Vec<String> = nodes
                    .iter()
                    .filter_map(|n| match *n {
                        Node::Str { start, len, .. } => Some(str_at(input, start, len).to_string()),
                        _ => None,
                    })
                    .collect();
                // A string node's text is its range's text.
                for i in 0..nodes.len() {
                    if let Node::Str { start, len, text } = p.nodes.at(i) {
                        assert_eq!(text, str_at(input, start, len));
                    }
                }
                let numbers: Vec<String> = (0..nodes.len())
                    .filter(|&i| nodes[i] == Node::Number)
                    .map(|i| {
                        let (start, len) = p.number_lexeme(input, i);
                        str_at(input, start, len).to_string()
                    })
                    .collect();
                let mut compact = Vec::new();
                p.write_compact(input, 0, &mut compact);
                (strings, numbers, compact)
            });
            let (strings, numbers, compact) = read.expect("valid JSON");
            assert_eq!(strings, ["a\"b", "x\u{e9}y", "n", "t", "z"]);
            assert_eq!(numbers, ["-0.50", "18446744073709551616"]);
            assert_eq!(
                String::from_utf8(compact).unwrap(),
                r#"{"a\"b":"xéy","n":[-0.50,18446744073709551616],"t":true,"z":null}"#
            );
            assert_eq!(input.len(), text.len());
        }
        let mut bad = b"{\"a\":".to_vec();
        assert!(parser.parse(&mut bad, |_, _| ()).is_err());
    }

    /// A string outside the input (which would be a change in simd-json) reads as an empty
    /// range and sets the flag that fails the message; one inside reads as its range.
    #[test]
    fn a_string_outside_the_input_reads_as_empty_and_is_flagged() {
        let input = b"[\"ab\"]";
        let inside = std::str::from_utf8(&input[2..4]).unwrap();
        let tape = [TapeNode::String(inside), TapeNode::String("elsewhere")];
        let outside = Cell::new(false);
        let nodes = Nodes {
            tape: &tape,
            base: input.as_ptr() as usize,
            input_len: input.len(),
            outside: &outside,
        };
        let at = |start, len, text| Node::Str { start, len, text };
        assert_eq!(nodes.at(0), at(2, 2, "ab"));
        assert!(!outside.get());
        assert_eq!(nodes.at(1), at(0, 0, ""));
        assert!(outside.get());
    }

    /// The padded parse reads and unescapes in one buffer where `fill_tape` reads a copy: every
    /// input of the decoders' fuzz corpora (escapes, truncations, invalid UTF-8, numbers at the
    /// end …) must give the same nodes, the same unescaped bytes and the same verdict, with one
    /// parser reused across inputs as a decoder reuses it.
    #[test]
    fn the_padded_parse_agrees_with_simd_jsons_copying_parse_on_the_fuzz_corpora() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut parser = ParserState::default();
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
                let ours = parser.parse(&mut input, |p, _| p.nodes.to_vec()).ok();
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
            let mut parser = ParserState::default();
            let ours = parser.parse(&mut input, |p, _| p.nodes.to_vec()).ok();
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
