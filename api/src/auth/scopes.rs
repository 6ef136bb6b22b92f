//! Scopes carried by API keys (and implied for sessions and hosts).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    ProtocolRead,
    ProtocolWrite,
    ImageRead,
    ImageWrite,
    ArchiveRead,
    ArchiveWrite,
    HostRead,
    HostWrite,
    NodeRead,
    NodeWrite,
    SecretRead,
    SecretWrite,
    Admin,
}

const ALL: &[(Scope, &str)] = &[
    (Scope::ProtocolRead, "protocol:read"),
    (Scope::ProtocolWrite, "protocol:write"),
    (Scope::ImageRead, "image:read"),
    (Scope::ImageWrite, "image:write"),
    (Scope::ArchiveRead, "archive:read"),
    (Scope::ArchiveWrite, "archive:write"),
    (Scope::HostRead, "host:read"),
    (Scope::HostWrite, "host:write"),
    (Scope::NodeRead, "node:read"),
    (Scope::NodeWrite, "node:write"),
    (Scope::SecretRead, "secret:read"),
    (Scope::SecretWrite, "secret:write"),
    (Scope::Admin, "admin"),
];

impl Scope {
    pub fn as_str(self) -> &'static str {
        ALL.iter()
            .find(|(s, _)| *s == self)
            .map(|(_, name)| *name)
            .unwrap_or("unknown")
    }

    pub fn parse(name: &str) -> Option<Scope> {
        ALL.iter().find(|(_, n)| *n == name).map(|(s, _)| *s)
    }

    /// Parses a space-separated list, dropping unknown names.
    pub fn parse_list(text: &str) -> Vec<Scope> {
        text.split_whitespace().filter_map(Scope::parse).collect()
    }

    /// Everything but `admin`.
    pub fn user_defaults() -> Vec<Scope> {
        ALL.iter()
            .map(|(s, _)| *s)
            .filter(|s| *s != Scope::Admin)
            .collect()
    }

    /// What a host token allows; services further limit hosts to their own nodes.
    pub fn host_defaults() -> Vec<Scope> {
        vec![
            Scope::ProtocolRead,
            Scope::ImageRead,
            Scope::ArchiveRead,
            Scope::ArchiveWrite,
            Scope::NodeRead,
            Scope::NodeWrite,
            Scope::SecretRead,
            Scope::SecretWrite,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn names_round_trip() {
        for s in Scope::user_defaults() {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            Scope::parse_list("image:read bogus admin"),
            vec![Scope::ImageRead, Scope::Admin]
        );
    }
}
