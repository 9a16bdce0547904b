//! `desiredCount`: a number of tasks the agent sets on every deploy, or `managed` — an
//! autoscaler (Application Auto Scaling) owns it: a deploy leaves ECS's count as it is, and
//! a count that differs from Git is not drift.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DesiredCount {
    Tasks(u32),
    Managed,
}

/// What serde says it wanted (field_messages turns it into a hint).
pub const EXPECTED: &str = "a whole number of tasks, or `managed`";

impl DesiredCount {
    /// The count a deploy sets; None: leave ECS's.
    pub fn fixed(self) -> Option<u32> {
        match self {
            DesiredCount::Tasks(n) => Some(n),
            DesiredCount::Managed => None,
        }
    }
}

impl Default for DesiredCount {
    fn default() -> Self {
        DesiredCount::Tasks(1)
    }
}

impl fmt::Display for DesiredCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DesiredCount::Tasks(n) => write!(f, "{n}"),
            DesiredCount::Managed => f.write_str("managed"),
        }
    }
}

impl Serialize for DesiredCount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DesiredCount::Tasks(n) => s.serialize_u32(*n),
            DesiredCount::Managed => s.serialize_str("managed"),
        }
    }
}

struct CountVisitor;

impl Visitor<'_> for CountVisitor {
    type Value = DesiredCount;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DesiredCount, E> {
        u32::try_from(v)
            .map(DesiredCount::Tasks)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DesiredCount, E> {
        u64::try_from(v)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            .and_then(|v| self.visit_u64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DesiredCount, E> {
        match v {
            "managed" => Ok(DesiredCount::Managed),
            other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
        }
    }
}

impl<'de> Deserialize<'de> for DesiredCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor)
    }
}

impl schemars::JsonSchema for DesiredCount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DesiredCount".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Tasks the service runs (set on every deploy), or `managed` when an autoscaler sets it (a deploy keeps ECS's count; a different count is not drift).",
            "oneOf": [
                { "type": "integer", "minimum": 0, "maximum": u32::MAX },
                { "const": "managed" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_managed_round_trip() {
        for (yaml, want) in [
            ("3", DesiredCount::Tasks(3)),
            ("0", DesiredCount::Tasks(0)),
            ("managed", DesiredCount::Managed),
        ] {
            let got: DesiredCount = serde_yaml::from_str(yaml).unwrap();
            assert_eq!(got, want);
            assert_eq!(serde_yaml::to_string(&got).unwrap().trim(), yaml);
        }
        for bad in ["-1", "auto", "4294967296", "1.5"] {
            assert!(serde_yaml::from_str::<DesiredCount>(bad).is_err(), "{bad}");
        }
    }
}
