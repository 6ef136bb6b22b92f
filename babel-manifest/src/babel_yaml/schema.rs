//! JSON Schema of `babel.yaml` for editors (feature `schema`), generated from the model so it
//! cannot drift from what the parser accepts. The YAML language server reads tagged values
//! (`!switch {...}`, `!store_key key`) as their content, so the two tagged enums describe
//! the content each tag may carry.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::{EnumOption, Image, Impact, Pointer, SwitchImpacts, UiType};

/// Where the schema says it comes from (`$id`).
pub const SCHEMA_ID: &str = "https://blockvisor-ng.invalid/schemas/babel.yaml.json";

/// The JSON Schema of a `babel.yaml` file.
pub fn babel_yaml_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Image).to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$id".into(), SCHEMA_ID.into());
        obj.insert(
            "title".into(),
            "babel.yaml: node image definition (nib)".into(),
        );
    }
    schema
}

impl JsonSchema for UiType {
    fn schema_name() -> Cow<'static, str> {
        "UiType".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let impact = generator.subschema_for::<Impact>();
        let switch = generator.subschema_for::<SwitchImpacts>();
        let option = generator.subschema_for::<EnumOption>();
        json_schema!({
            "description": "`!text <impact|null>`, `!password <impact|null>`, `!switch {on: <impact|null>, off: <impact|null>}` or `!enum [{value, name, impact}]`",
            "anyOf": [
                { "type": "null" },
                impact,
                switch,
                { "type": "array", "items": option, "minItems": 1 }
            ]
        })
    }
}

impl JsonSchema for Pointer {
    fn schema_name() -> Cow<'static, str> {
        "Pointer".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`!store_key <key>` or `!combination_disallowed`",
            "type": ["string", "null"]
        })
    }
}
