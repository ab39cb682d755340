//! Reading a record as it arrived straight into its fields, without building it as a value:
//! strings are borrowed from the page where they hold no escapes.

use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::part::Cell;

/// The fields of `raw` that `keeps` keeps (given each field's position and name), when it is
/// an object of plain fields (no object to flatten); `false` for anything else, which is then
/// built as a value. A value is read as a value would read it, so both ways give the same
/// cells; what a value refuses (a lone surrogate escape, a number past `f64`) is refused here
/// too, in fields not kept as well, and the value way then names the error.
pub(crate) fn fields<'a>(
    raw: &'a str,
    fields: &mut Vec<(Cow<'a, str>, Cell<'a>)>,
    keeps: &mut dyn FnMut(usize, &str) -> bool,
) -> bool {
    fields.clear();
    let mut de = serde_json::Deserializer::from_str(raw);
    de.deserialize_map(FieldsVisitor { fields, keeps }).is_ok() && de.end().is_ok()
}

struct FieldsVisitor<'f, 'a> {
    fields: &'f mut Vec<(Cow<'a, str>, Cell<'a>)>,
    keeps: &'f mut dyn FnMut(usize, &str) -> bool,
}

impl<'de> Visitor<'de> for FieldsVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if (self.keeps)(i, &key) {
                let cell = map.next_value_seed(CellSeed)?;
                self.fields.push((key, cell));
            } else {
                map.next_value_seed(Check { nested: false })?;
            }
            i += 1;
        }
        Ok(())
    }
}

/// A value read only to check it as a value would be read, keeping nothing; an object is an
/// error at the top of a field (it is flattened, and its columns may be kept).
#[derive(Clone, Copy)]
struct Check {
    nested: bool,
}

impl<'de> DeserializeSeed<'de> for Check {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Check { nested: true })?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if !self.nested {
            return Err(de::Error::custom("an object to flatten"));
        }
        while map.next_key_seed(Check { nested: true })?.is_some() {
            map.next_value_seed(Check { nested: true })?;
        }
        Ok(())
    }
}

/// A key, borrowed from the record unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(Text)
    }
}

struct Text;

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A field's value as a [`Cell`]; an object is an error (it is flattened, which takes the
/// value way).
struct CellSeed;

impl<'de> DeserializeSeed<'de> for CellSeed {
    type Value = Cell<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cell<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed {
    type Value = Cell<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Cell<'de>, E> {
        Ok(Cell::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell<'de>, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell<'de>, E> {
        Ok(Cell::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell<'de>, E> {
        Ok(Cell::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell<'de>, E> {
        // As a value reads it: JSON has no number that is not finite.
        Ok(Number::from_f64(v).map_or(Cell::Null, Cell::Number))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cell<'de>, E> {
        Ok(Cell::String(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell<'de>, E> {
        Ok(Cell::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Cell<'de>, E> {
        Ok(Cell::String(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Cell::Json(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Cell<'de>, A::Error> {
        Err(de::Error::custom("an object to flatten"))
    }
}
