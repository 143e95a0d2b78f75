//! A test helper shared by the mapper's unit tests and the integration tests
//! (included with `#[path]` in both; the includer brings `ConnectorError`,
//! `Mapper`, `Record` and `Value` into scope).

use super::{ConnectorError, Mapper, Record, Value};

/// `map`, checked against `map_owned` of a copy: both give the same record, or
/// errors alike to the last detail.
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
        borrowed
    }
}
