//! A namespace of its own for each test.

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::{Client, Config, Resource};

use crate::{ControlPlane, Error};

/// Label on every namespace tests create, so leftovers are easy to find.
pub const TEST_LABEL: &str = "promote.dev/test";

/// A namespace created for one test and deleted when dropped (set
/// `PROMOTE_TEST_KEEP_NAMESPACES=1` to keep it for a look afterwards).
pub struct TestNamespace {
    name: String,
    client: Client,
    config: Config,
}

impl std::fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestNamespace {
    /// Creates `promote-test-<prefix>-<random>` with `client`.
    pub async fn create(
        control_plane: &ControlPlane,
        client: Client,
        prefix: &str,
    ) -> Result<Self, Error> {
        let config = control_plane.config().await?;
        let mut prefix: String = prefix
            .chars()
            .map(|c| match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9') => c,
                _ => '-',
            })
            .take(40)
            .collect();
        prefix = prefix.trim_matches('-').to_owned();
        let name = format!("promote-test-{prefix}-{:06x}", fastrand::u32(..1 << 24));
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(TEST_LABEL.to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .map_err(Error::api(format!("create namespace {name}")))?;
        Ok(Self {
            name,
            client,
            config,
        })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client the namespace was created with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// An [`Api`] for a namespaced kind in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Deletes the namespace now, reporting failure (dropping deletes it too, quietly).
    pub async fn delete(mut self) -> Result<(), Error> {
        let name = std::mem::take(&mut self.name);
        delete(self.client.clone(), &name).await
    }
}

async fn delete(client: Client, name: &str) -> Result<(), Error> {
    match Api::<Namespace>::all(client)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(Error::api(format!("delete namespace {name}"))(e)),
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        if std::env::var_os("PROMOTE_TEST_KEEP_NAMESPACES").is_some_and(|v| v == "1") {
            eprintln!("keeping namespace {}", self.name);
            return;
        }
        // Drop cannot await, and the test's runtime may be shutting down: delete from
        // a thread with a runtime and a client of its own.
        let name = std::mem::take(&mut self.name);
        let config = self.config.clone();
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = Client::try_from(config).map_err(|e| e.to_string())?;
                delete(client, &name).await.map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) = deleted {
            eprintln!("test namespace cleanup: {e}");
        }
    }
}
