//! A test helper shared by the mapper's unit tests and the integration tests
//! (included with `#[path]` in both; the includer brings `ConnectorError`,
//! `Mapper`, `Record` and `Value` into scope).

use super::{ConnectorError, Mapper, Record, Value};

/// `map`, checked against `map_owned` of a copy and against the mapper's
/// `record_seed` decoding the source's JSON text: all three give the same record,
/// or errors alike to the last detail.
pub(crate) trait MapChecked {
    fn map_checked(
        &self,
        source: &Value,
        connector: &str,
    ) -> Result<Option<Record>, ConnectorError>;
}

impl MapChecked for Mapper {
    fn map_checked(
        &self,
        source: &Value,
        connector: &str,
    ) -> Result<Option<Record>, ConnectorError> {
        let borrowed = self.map(source, connector);
        let owned = self.map_owned(source.clone(), connector);
        match (&borrowed, &owned) {
            (Ok(b), Ok(o)) => assert_eq!(b, o, "map and map_owned of {source}"),
            (Err(b), Err(o)) => assert_eq!(format!("{b:?}"), format!("{o:?}"), "{source}"),
            _ => panic!("map gave {borrowed:?}, map_owned {owned:?} for {source}"),
        }
        let text = source.to_string();
        let mut json = serde_json::Deserializer::from_str(&text);
        let seeded =
            serde::de::DeserializeSeed::deserialize(&self.record_seed(connector), &mut json)
                .expect("the source's own JSON decodes");
        match (&borrowed, &seeded) {
            (Ok(b), Ok(s)) => assert_eq!(b, s, "map and record_seed of {source}"),
            (Err(b), Err(s)) => assert_eq!(format!("{b:?}"), format!("{s:?}"), "{source}"),
            _ => panic!("map gave {borrowed:?}, record_seed {seeded:?} for {source}"),
        }
        borrowed
    }
}
