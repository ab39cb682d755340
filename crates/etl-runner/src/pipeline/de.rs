//! The spec types are read from a parsed YAML value through this deserializer, whose error
//! type keeps what serde reports as data ([`Mismatch`]: an unknown key with the keys
//! expected, a missing key, a wrong type) instead of English sentences, so that `load.rs`
//! words its messages from typed values and never reads serde's text.

use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};
use serde_yaml::Value;

/// What did not fit, as serde reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mismatch {
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    MissingField(&'static str),
    DuplicateField(&'static str),
    /// A value of the wrong type: what was found and what was expected (`u32`, `a string`).
    InvalidType {
        found: String,
        expected: String,
    },
    InvalidValue {
        found: String,
        expected: String,
    },
    InvalidLength {
        length: usize,
        expected: String,
    },
    /// A message written by a hand-made `Deserialize` of a spec type.
    Custom(String),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownField { field, .. } => write!(f, "unknown field `{field}`"),
            Self::UnknownVariant { variant, .. } => write!(f, "unknown variant `{variant}`"),
            Self::MissingField(field) => write!(f, "missing field `{field}`"),
            Self::DuplicateField(field) => write!(f, "duplicate field `{field}`"),
            Self::InvalidType { found, expected } => write!(f, "must be {expected}, not {found}"),
            Self::InvalidValue { found, expected } => write!(f, "must be {expected}, not {found}"),
            Self::InvalidLength { length, expected } => {
                write!(f, "has {length} items; expected {expected}")
            }
            Self::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Mismatch {}

impl de::Error for Mismatch {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self::Custom(message.to_string())
    }

    fn invalid_type(found: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::InvalidType {
            found: found.to_string(),
            expected: expected.to_string(),
        }
    }

    fn invalid_value(found: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::InvalidValue {
            found: found.to_string(),
            expected: expected.to_string(),
        }
    }

    fn invalid_length(length: usize, expected: &dyn de::Expected) -> Self {
        Self::InvalidLength {
            length,
            expected: expected.to_string(),
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::UnknownVariant {
            variant: variant.to_owned(),
            expected,
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::UnknownField {
            field: field.to_owned(),
            expected,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self::MissingField(field)
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::DuplicateField(field)
    }
}

/// A YAML value to deserialise a spec type from, reading it as `serde_yaml`'s own value
/// deserializer does (`null` is an empty list or mapping, `!tag value` an enum variant).
#[derive(Debug)]
pub(crate) struct YamlValue(pub(crate) Value);

impl IntoDeserializer<'_, Mismatch> for YamlValue {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

fn visit_sequence<'de, V: Visitor<'de>>(
    items: Vec<Value>,
    visitor: V,
) -> Result<V::Value, Mismatch> {
    let mut access = SeqDeserializer::new(items.into_iter().map(YamlValue));
    let value = visitor.visit_seq(&mut access)?;
    access.end()?;
    Ok(value)
}

fn visit_mapping<'de, V: Visitor<'de>>(
    entries: serde_yaml::Mapping,
    visitor: V,
) -> Result<V::Value, Mismatch> {
    let mut access = MapDeserializer::new(
        entries
            .into_iter()
            .map(|(k, v)| (YamlValue(k), YamlValue(v))),
    );
    let value = visitor.visit_map(&mut access)?;
    access.end()?;
    Ok(value)
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Unexpected::Unsigned(u),
            (None, Some(i), _) => Unexpected::Signed(i),
            (None, None, Some(f)) => Unexpected::Float(f),
            _ => Unexpected::Other("a number"),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Sequence(_) => Unexpected::Seq,
        Value::Mapping(_) => Unexpected::Map,
        Value::Tagged(_) => Unexpected::Enum,
    }
}

impl<'de> de::Deserializer<'de> for YamlValue {
    type Error = Mismatch;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, Some(f)) => visitor.visit_f64(f),
                _ => Err(Mismatch::Custom(format!("`{n}` is not a number etl reads"))),
            },
            Value::String(s) => visitor.visit_string(s),
            Value::Sequence(items) => visit_sequence(items, visitor),
            Value::Mapping(entries) => visit_mapping(entries, visitor),
            Value::Tagged(tagged) => visitor.visit_enum(Variant::tagged(*tagged)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        match self.0 {
            Value::Null => visit_sequence(Vec::new(), visitor),
            other => Self(other).deserialize_any(visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        match self.0 {
            Value::Null => visit_mapping(serde_yaml::Mapping::new(), visitor),
            other => Self(other).deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        self.deserialize_map(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        match self.0 {
            Value::String(tag) => visitor.visit_enum(Variant { tag, value: None }),
            Value::Tagged(tagged) => visitor.visit_enum(Variant::tagged(*tagged)),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit_struct tuple tuple_struct identifier
    }
}

/// An enum variant: a plain string (a unit variant) or a YAML tag with its value.
struct Variant {
    tag: String,
    value: Option<Value>,
}

impl Variant {
    fn tagged(tagged: serde_yaml::value::TaggedValue) -> Self {
        Self {
            tag: tagged.tag.to_string().trim_start_matches('!').to_owned(),
            value: Some(tagged.value),
        }
    }
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = Mismatch;
    type Variant = VariantValue;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, VariantValue), Mismatch> {
        let tag: de::value::StringDeserializer<Mismatch> = self.tag.into_deserializer();
        Ok((seed.deserialize(tag)?, VariantValue(self.value)))
    }
}

struct VariantValue(Option<Value>);

impl<'de> de::VariantAccess<'de> for VariantValue {
    type Error = Mismatch;

    fn unit_variant(self) -> Result<(), Mismatch> {
        match self.0 {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(de::Error::invalid_type(unexpected(&other), &"unit variant")),
        }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Mismatch> {
        seed.deserialize(YamlValue(self.0.unwrap_or(Value::Null)))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Mismatch> {
        de::Deserializer::deserialize_seq(YamlValue(self.0.unwrap_or(Value::Null)), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        de::Deserializer::deserialize_map(YamlValue(self.0.unwrap_or(Value::Null)), visitor)
    }
}

/// Deserialises `T` from `value`, with the key path of the first problem.
pub(crate) fn from_value<T: de::DeserializeOwned>(
    value: Value,
) -> Result<T, serde_path_to_error::Error<Mismatch>> {
    serde_path_to_error::deserialize(YamlValue(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Spec {
        limit: u32,
        name: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
        kind: Option<Kind>,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Offset,
        Page,
    }

    fn read<T: de::DeserializeOwned>(yaml: &str) -> Result<T, Mismatch> {
        from_value(serde_yaml::from_str(yaml).unwrap())
            .map_err(serde_path_to_error::Error::into_inner)
    }

    #[test]
    fn reads_values_like_serde_yaml() {
        let spec: Spec = read("{ limit: 5, tags: ~, kind: page }").unwrap();
        assert_eq!(
            spec,
            Spec {
                limit: 5,
                name: None,
                tags: Vec::new(),
                kind: Some(Kind::Page)
            }
        );
    }

    #[test]
    fn reports_mismatches_as_data() {
        assert_eq!(
            read::<Spec>("{ limit: 5, limt: 3 }").unwrap_err(),
            Mismatch::UnknownField {
                field: "limt".into(),
                expected: &["limit", "name", "tags", "kind"]
            }
        );
        assert_eq!(
            read::<Spec>("{}").unwrap_err(),
            Mismatch::MissingField("limit")
        );
        assert_eq!(
            read::<Spec>("{ limit: ten }").unwrap_err(),
            Mismatch::InvalidType {
                found: "string \"ten\"".into(),
                expected: "u32".into()
            }
        );
        assert!(matches!(
            read::<Spec>("{ limit: 1, kind: offest }").unwrap_err(),
            Mismatch::UnknownVariant { variant, .. } if variant == "offest"
        ));
    }
}
