//! Encoding of nested values into TEXT columns: protobuf messages as base64, lists as JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{DbError, DbResult};

pub fn encode_pb<M: prost::Message>(msg: &M) -> String {
    STANDARD.encode(msg.encode_to_vec())
}

pub fn decode_pb<M: prost::Message + Default>(what: &'static str, text: &str) -> DbResult<M> {
    let bytes = STANDARD.decode(text).map_err(|e| DbError::Corrupt {
        what,
        source: e.into(),
    })?;
    M::decode(bytes.as_slice()).map_err(|e| DbError::Corrupt {
        what,
        source: e.into(),
    })
}

pub fn encode_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_string())
}

pub fn decode_list(what: &'static str, text: &str) -> DbResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| DbError::Corrupt {
        what,
        source: e.into(),
    })
}

pub fn to_timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}
