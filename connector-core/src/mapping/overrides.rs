//! Per-configuration changes to a connector's built-in mappings.
//!
//! A [`MappingOverride`] comes from a connector's config: it adds, replaces or
//! removes field mappings of one entity. [`EntityMapping::apply_overrides`] applies
//! the ones meant for a mapping and re-validates the result.

use serde::{Deserialize, Serialize};

use super::model::{EntityMapping, FieldMapping};
use crate::error::{ConnectorError, Result};

/// Changes to the field mappings of one entity.
///
/// Applied in this order: `remove`, then `replace`, then `add`.
///
/// ```
/// use connector_core::mapping::{EntityMapping, MappingOverride};
///
/// let mapping = EntityMapping::from_json(r#"{"source_type": "group", "target_type": "TEAM",
///     "display_name": "Groups", "external_id": "id",
///     "fields": [{"source": "displayName", "target": "name"},
///                {"source": "mail", "target": "email"}]}"#)?;
/// let overrides: Vec<MappingOverride> = serde_json::from_str(r#"[{"entity": "group",
///     "remove": ["email"],
///     "add": [{"source": "visibility", "target": "visibility"}]}]"#)
///     .map_err(|e| connector_core::ConnectorError::config(e.to_string()))?;
/// let changed = mapping.apply_overrides(&overrides)?;
/// let targets: Vec<_> = changed.fields.iter().map(|f| f.target.as_str()).collect();
/// assert_eq!(targets, ["name", "visibility"]);
/// # Ok::<(), connector_core::ConnectorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingOverride {
    /// The source type of the mapping to change (`cmdb_ci_appl`).
    pub entity: String,
    /// Field mappings to add; their targets must not be mapped yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<FieldMapping>,
    /// Field mappings replacing the existing ones with the same target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace: Vec<FieldMapping>,
    /// Targets whose field mappings (and validation rules) are removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl MappingOverride {
    /// An override of the mapping for `entity` that changes nothing yet.
    pub fn new(entity: impl Into<String>) -> Self {
        Self {
            entity: entity.into(),
            add: Vec::new(),
            replace: Vec::new(),
            remove: Vec::new(),
        }
    }
}

impl EntityMapping {
    /// Returns a copy with every override whose `entity` is this mapping's source
    /// type applied, in order; others are ignored. A removed target loses its
    /// validation rules too. The result is [validated](Self::validate).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the target when
    /// an override removes or replaces a target the mapping lacks or adds one it has,
    /// or when the result fails validation.
    pub fn apply_overrides(&self, overrides: &[MappingOverride]) -> Result<EntityMapping> {
        let mut mapping = self.clone();
        let fail = |what: String| {
            Err(ConnectorError::config(format!(
                "mapping override for `{}`: {what}",
                self.source_type
            ))
            .with_entity(self.source_type.clone()))
        };
        for o in overrides.iter().filter(|o| o.entity == self.source_type) {
            for target in &o.remove {
                let before = mapping.fields.len();
                mapping.fields.retain(|f| &f.target != target);
                if mapping.fields.len() == before {
                    return fail(format!(
                        "removes `{target}`, which the mapping does not have"
                    ));
                }
                mapping.validation.retain(|v| &v.field != target);
            }
            for replacement in &o.replace {
                match mapping
                    .fields
                    .iter_mut()
                    .find(|f| f.target == replacement.target)
                {
                    Some(field) => *field = replacement.clone(),
                    None => {
                        return fail(format!(
                            "replaces `{}`, which the mapping does not have",
                            replacement.target
                        ));
                    }
                }
            }
            for addition in &o.add {
                if mapping.fields.iter().any(|f| f.target == addition.target) {
                    return fail(format!(
                        "adds `{}`, which the mapping has already (use `replace`)",
                        addition.target
                    ));
                }
                mapping.fields.push(addition.clone());
            }
        }
        mapping.validate()?;
        Ok(mapping)
    }
}
