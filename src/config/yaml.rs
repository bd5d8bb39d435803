//! The one module that knows which YAML parser is in use (serde_yaml, archived upstream: to
//! swap it, reimplement [`parse`] with another parser; nothing else in the crate names it).
//!
//! A document becomes a [`Node`] tree in which every scalar is its text as written (quotes
//! removed, escapes decoded), as yaml-cpp hands it to Falco: `0o644`, `1.10` or `True` keep
//! their spelling and the reader decides what type the key needs ("plain-scalar text, then the
//! type Falco asks for"). Only a plain `~`, `null` or an empty value is [`Node::Null`].
//!
//! serde_yaml resolves plain scalars to numbers and booleans and drops their text, so the
//! document is read twice: once for its shape (what is a mapping, a sequence, a scalar, null),
//! then again driven by that shape with `deserialize_str` at every scalar, which yields the
//! scalar's text.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A YAML value: every scalar as its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// `~`, `null`, or nothing.
    Null,
    Scalar(String),
    /// A scalar whose text is taken as is: no `${VAR}` expansion (a `-o` value, as in Falco,
    /// which expands variables only in the files it loads).
    Verbatim(String),
    Seq(Vec<Node>),
    /// Entries in document order; keys as their text.
    Map(Vec<(String, Node)>),
}

impl Node {
    pub fn empty_map() -> Node {
        Node::Map(Vec::new())
    }

    /// The value under `key` in a mapping.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value under `key`, inserted as `Null` when absent (`self` must be a mapping).
    pub fn entry(&mut self, key: &str) -> Option<&mut Node> {
        let Node::Map(entries) = self else {
            return None;
        };
        let i = match entries.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                entries.push((key.to_string(), Node::Null));
                entries.len() - 1
            }
        };
        Some(&mut entries[i].1)
    }

    /// How an error message names a value that is not a scalar (scalars are quoted by the
    /// reader, after `${VAR}` expansion).
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Scalar(_) | Node::Verbatim(_) => "a scalar",
            Node::Seq(_) => "a sequence",
            Node::Map(_) => "a mapping",
        }
    }

    /// The same value with every scalar [`Node::Verbatim`].
    pub fn verbatim(self) -> Node {
        match self {
            Node::Scalar(s) => Node::Verbatim(s),
            Node::Seq(items) => Node::Seq(items.into_iter().map(Node::verbatim).collect()),
            Node::Map(entries) => Node::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.verbatim()))
                    .collect(),
            ),
            other => other,
        }
    }

    /// Deep merge: mappings merge key by key, anything else replaces. An empty (null) value
    /// over a mapping adds nothing.
    pub fn merge(&mut self, over: Node) {
        match (self, over) {
            (Node::Map(base), Node::Map(over)) => {
                for (k, v) in over {
                    match base.iter_mut().find(|(bk, _)| *bk == k) {
                        Some((_, existing)) => existing.merge(v),
                        None => base.push((k, v)),
                    }
                }
            }
            (Node::Map(_), Node::Null) => {}
            (base, over) => *base = over,
        }
    }
}

/// One YAML document (an empty document is [`Node::Null`]). The error carries the position:
/// `... at line 3 column 2`.
pub fn parse(text: &str) -> Result<Node, String> {
    let shape =
        Shape::deserialize(serde_yaml::Deserializer::from_str(text)).map_err(|e| error_text(&e))?;
    shape
        .deserialize(serde_yaml::Deserializer::from_str(text))
        .map_err(|e| error_text(&e))
}

fn error_text(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(loc) if !text.contains(" at line ") => {
            format!("{text} at line {} column {}", loc.line(), loc.column())
        }
        _ => text,
    }
}

/// Pass one: the document's shape. Any scalar (a number too big for any Rust type included)
/// is just "a scalar"; a tag is looked through.
enum Shape {
    Null,
    Scalar,
    Seq(Vec<Shape>),
    Map(Vec<(Shape, Shape)>),
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Shape>()? {
            items.push(item);
        }
        Ok(Shape::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Shape, Shape>()? {
            entries.push((k, v));
        }
        Ok(Shape::Map(entries))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Shape, A::Error> {
        // `!tag value`: the value's shape.
        let (_tag, value) = data.variant::<de::IgnoredAny>()?;
        de::VariantAccess::newtype_variant::<Shape>(value)
    }
}

/// Pass two: reads the value whose shape pass one found, taking every scalar's text.
impl<'de> DeserializeSeed<'de> for &Shape {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        match self {
            Shape::Null => {
                IgnoredAny::deserialize(d)?;
                Ok(Node::Null)
            }
            Shape::Scalar => d.deserialize_str(TextVisitor).map(Node::Scalar),
            Shape::Seq(items) => d.deserialize_seq(SeqShape(items)),
            Shape::Map(entries) => d.deserialize_map(MapShape(entries)),
        }
    }
}

/// A mapping key: its text (a collection as a key is named by its kind).
struct KeyShape<'s>(&'s Shape);

impl<'de> DeserializeSeed<'de> for KeyShape<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        match self.0 {
            Shape::Null | Shape::Scalar => d.deserialize_str(TextVisitor),
            other => Ok(other.deserialize(d)?.kind().to_string()),
        }
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
}

struct SeqShape<'s>(&'s [Shape]);

impl<'de> Visitor<'de> for SeqShape<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::with_capacity(self.0.len());
        for item in self.0 {
            match seq.next_element_seed(item)? {
                Some(node) => out.push(node),
                None => return Err(de::Error::custom("the sequence changed between passes")),
            }
        }
        Ok(Node::Seq(out))
    }
}

struct MapShape<'s>(&'s [(Shape, Shape)]);

impl<'de> Visitor<'de> for MapShape<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out: Vec<(String, Node)> = Vec::with_capacity(self.0.len());
        // A set, not a scan of `out`: a scan is quadratic in the keys (40,000 took seconds).
        let mut seen = HashSet::with_capacity(self.0.len());
        for (k, v) in self.0 {
            let Some(key) = map.next_key_seed(KeyShape(k))? else {
                return Err(de::Error::custom("the mapping changed between passes"));
            };
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "duplicate entry with key {key:?}"
                )));
            }
            out.push((key, map.next_value_seed(v)?));
        }
        Ok(Node::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> Node {
        Node::Scalar(t.to_string())
    }

    #[test]
    fn scalars_keep_their_text() {
        let n = parse(
            "a: 0o644\nb: 420\nc: 1.10\nd: True\ne: '0x10'\nf: \"q\\tz\"\ng:\nh: ~\ni: null\n\
             j: +5\nk: 1e3\n",
        )
        .unwrap();
        let expect = [
            ("a", s("0o644")),
            ("b", s("420")),
            ("c", s("1.10")),
            ("d", s("True")),
            ("e", s("0x10")),
            ("f", s("q\tz")),
            ("g", Node::Null),
            ("h", Node::Null),
            ("i", Node::Null),
            ("j", s("+5")),
            ("k", s("1e3")),
        ];
        for (k, v) in expect {
            assert_eq!(n.get(k), Some(&v), "{k}");
        }
    }

    #[test]
    fn structure_order_aliases_and_tags() {
        let n = parse(
            "z: {b: [1, 0o7, {c: d}], a: x}\nbase: &b {m: 0x1f}\ncopy: *b\n\
             t: !custom 0o12\n1: one\n",
        )
        .unwrap();
        let Node::Map(entries) = &n else { panic!() };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "base", "copy", "t", "1"]);
        let z = n.get("z").unwrap();
        assert_eq!(
            z.get("b"),
            Some(&Node::Seq(vec![
                s("1"),
                s("0o7"),
                Node::Map(vec![("c".into(), s("d"))])
            ]))
        );
        assert_eq!(n.get("copy").unwrap().get("m"), Some(&s("0x1f")));
        assert_eq!(n.get("t"), Some(&s("0o12")));
    }

    #[test]
    fn tagged_collections_big_numbers_and_merge_keys() {
        let n = parse(
            "m: !thing {a: 0x10}\ns: !list [1, 2]\nbig: 99999999999999999999999\n\
             base: &b {x: 1}\nderived: {<<: *b, y: 2}\n",
        )
        .unwrap();
        assert_eq!(n.get("m").unwrap().get("a"), Some(&s("0x10")));
        assert_eq!(n.get("s"), Some(&Node::Seq(vec![s("1"), s("2")])));
        assert_eq!(n.get("big"), Some(&s("99999999999999999999999")));
        // Merge keys are not applied (yaml-cpp does not apply them either): `<<` is a key.
        assert_eq!(
            n.get("derived").unwrap().get("<<").unwrap().get("x"),
            Some(&s("1"))
        );
    }

    #[test]
    fn errors_carry_the_position() {
        let e = parse("a:\n  b: 1\n c: 2\n").unwrap_err();
        assert!(e.contains("line 3 column 2"), "{e}");
        assert_eq!(parse("").unwrap(), Node::Null);
        assert!(parse("a: 1\na: 2\n").unwrap_err().contains("duplicate"));
    }

    #[test]
    fn merge_is_deep() {
        let mut a = parse("x: {p: 1, q: 2}\ny: 1\n").unwrap();
        a.merge(parse("x: {q: 3, r: 4}\ny:\n").unwrap());
        assert_eq!(a, parse("x: {p: 1, q: 3, r: 4}\ny:\n").unwrap());
        let mut a = parse("x: {p: 1}\n").unwrap();
        a.merge(parse("x:\n").unwrap());
        assert_eq!(a.get("x").unwrap().get("p"), Some(&s("1")));
    }
}
