//! Live image references as Argo CD reports them, normalised for comparison.

/// An image reference split into parts, with the registry and Docker Hub's `library/`
/// prefix removed from the repository, so `docker.io/library/nginx:1.27` and `nginx:1.27`
/// compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Image {
    /// Registry host (and port) when the reference named one.
    pub registry: Option<String>,
    /// Repository path without the registry (`web/app`, `nginx`).
    pub repository: String,
    /// Tag, when present.
    pub tag: Option<String>,
    /// Digest (`sha256:…`), when present.
    pub digest: Option<String>,
}

impl Image {
    /// The version this image runs: its tag, else its digest.
    pub fn version(&self) -> Option<&str> {
        self.tag.as_deref().or(self.digest.as_deref())
    }

    /// Whether this image runs `version`, given as a tag, a digest or `tag@digest`.
    pub fn runs(&self, version: &str) -> bool {
        match version.split_once('@') {
            Some((tag, digest)) => {
                self.tag.as_deref() == Some(tag) || self.digest.as_deref() == Some(digest)
            }
            None if version.starts_with("sha256:") => self.digest.as_deref() == Some(version),
            None => self.tag.as_deref() == Some(version),
        }
    }

    /// `repository:tag@digest`, without the registry.
    pub fn normalized(&self) -> String {
        let mut s = self.repository.clone();
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
        s
    }
}

impl std::fmt::Display for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.normalized())
    }
}

/// Splits an image reference (`[registry/]repo[:tag][@digest]`) into an [`Image`].
pub fn normalize_image(reference: &str) -> Image {
    let reference = reference.trim();
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest.to_owned())),
        None => (reference, None),
    };
    // A tag is after the last ':' that follows the last '/', so a registry port is not a tag.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (
            &rest[..last_slash + i],
            Some(rest[last_slash + i + 1..].to_owned()),
        ),
        None => (rest, None),
    };
    let (registry, mut repository) = match path.split_once('/') {
        Some((first, remainder))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first.to_owned()), remainder.to_owned())
        }
        _ => (None, path.to_owned()),
    };
    let docker_hub = registry
        .as_deref()
        .is_none_or(|r| matches!(r, "docker.io" | "index.docker.io" | "registry-1.docker.io"));
    if docker_hub && let Some(stripped) = repository.strip_prefix("library/") {
        repository = stripped.to_owned();
    }
    Image {
        registry,
        repository,
        tag: tag.filter(|t| !t.is_empty()),
        digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_forms_compare_equal() {
        for r in [
            "nginx:1.27",
            "library/nginx:1.27",
            "docker.io/library/nginx:1.27",
            "index.docker.io/library/nginx:1.27",
        ] {
            assert_eq!(normalize_image(r).normalized(), "nginx:1.27", "{r}");
        }
    }

    #[test]
    fn registry_with_port_is_not_a_tag() {
        let i = normalize_image("registry.local:5000/web/app");
        assert_eq!(i.registry.as_deref(), Some("registry.local:5000"));
        assert_eq!(i.repository, "web/app");
        assert_eq!(i.tag, None);
        let i = normalize_image("localhost:5000/app:v2");
        assert_eq!(i.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(i.tag.as_deref(), Some("v2"));
    }

    #[test]
    fn digests_split_off() {
        let i = normalize_image(&format!("ghcr.io/acme/web:sha-4f2e1c0@{DIGEST}"));
        assert_eq!(i.repository, "acme/web");
        assert_eq!(i.tag.as_deref(), Some("sha-4f2e1c0"));
        assert_eq!(i.digest.as_deref(), Some(DIGEST));
        assert!(i.runs("sha-4f2e1c0"));
        assert!(i.runs(DIGEST));
        assert!(i.runs(&format!("other@{DIGEST}")));
        assert!(!i.runs("sha-0000000"));
        let only_digest = normalize_image(&format!("ghcr.io/acme/web@{DIGEST}"));
        assert_eq!(only_digest.version(), Some(DIGEST));
        assert_eq!(only_digest.tag, None);
    }

    #[test]
    fn non_hub_library_prefix_is_kept() {
        let i = normalize_image("quay.io/library/thing:1");
        assert_eq!(i.repository, "library/thing");
    }
}
