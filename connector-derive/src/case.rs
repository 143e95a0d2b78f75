//! `rename_all` rules for target names, as serde spells them.

/// A renaming rule for the target names of the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

/// The rule names accepted, for error messages.
pub(crate) const RULE_NAMES: &str = "`lowercase`, `UPPERCASE`, `PascalCase`, `camelCase`, \
     `snake_case`, `SCREAMING_SNAKE_CASE`, `kebab-case`, `SCREAMING-KEBAB-CASE`";

impl RenameRule {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "lowercase" => RenameRule::Lower,
            "UPPERCASE" => RenameRule::Upper,
            "PascalCase" => RenameRule::Pascal,
            "camelCase" => RenameRule::Camel,
            "snake_case" => RenameRule::Snake,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnake,
            "kebab-case" => RenameRule::Kebab,
            "SCREAMING-KEBAB-CASE" => RenameRule::ScreamingKebab,
            _ => return None,
        })
    }

    /// Renames a snake_case field name.
    pub(crate) fn apply(self, field: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => field.to_owned(),
            RenameRule::Upper | RenameRule::ScreamingSnake => field.to_ascii_uppercase(),
            RenameRule::Pascal | RenameRule::Camel => {
                let mut out = String::with_capacity(field.len());
                let mut capitalize = self == RenameRule::Pascal;
                for c in field.chars() {
                    if c == '_' {
                        capitalize = true;
                    } else if capitalize {
                        out.push(c.to_ascii_uppercase());
                        capitalize = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
            RenameRule::Kebab => field.replace('_', "-"),
            RenameRule::ScreamingKebab => field.replace('_', "-").to_ascii_uppercase(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RenameRule;

    #[test]
    fn renames_like_serde() {
        assert_eq!(RenameRule::Camel.apply("owner_email"), "ownerEmail");
        assert_eq!(RenameRule::Pascal.apply("owner_email"), "OwnerEmail");
        assert_eq!(
            RenameRule::ScreamingSnake.apply("owner_email"),
            "OWNER_EMAIL"
        );
        assert_eq!(RenameRule::Kebab.apply("owner_email"), "owner-email");
        assert_eq!(RenameRule::ScreamingKebab.apply("a_b"), "A-B");
        assert_eq!(RenameRule::Snake.apply("a_b"), "a_b");
    }
}
