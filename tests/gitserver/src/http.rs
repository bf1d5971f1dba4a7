//! Smart HTTP: lighttpd + `git http-backend` (CGI) with basic auth, push enabled.

use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tempfile::TempDir;

use crate::cmd::{find_binary, find_http_backend, random_hex, shell_quote, write_with_mode};
use crate::error::{Error, Result};
use crate::process::{ServerProcess, start_on_free_port};
use crate::remote::Remote;
use crate::repo::{RepoDir, repo_name};

/// URL path under which repositories are served.
const GIT_PREFIX: &str = "/git";

/// A username and password for HTTP basic auth. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpCredentials {
    /// Basic-auth user name.
    pub username: String,
    /// Basic-auth password.
    pub password: String,
}

impl HttpCredentials {
    /// Credentials from parts (e.g. deliberately wrong ones for a negative test).
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        HttpCredentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for HttpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A smart-HTTP git server (lighttpd running `git http-backend`) on `127.0.0.1:<free port>`,
/// serving every bare repository of a [`RepoDir`] at `http://127.0.0.1:PORT/git/<name>.git`.
/// Every request needs basic auth with [`HttpServer::credentials`]; push is enabled.
///
/// Dropping it stops it like [`HttpServer::stop`] and removes its configuration directory.
#[derive(Debug)]
pub struct HttpServer {
    process: ServerProcess,
    port: u16,
    nonce: String,
    credentials: HttpCredentials,
    helper_count: AtomicU32,
    repos: RepoDir,
    dir: TempDir,
}

impl HttpServer {
    /// Starts the server for `repos` and waits until it answers. Blocks (tens of milliseconds).
    pub fn start(repos: &RepoDir) -> Result<HttpServer> {
        let lighttpd = find_binary("lighttpd", "lighttpd")?;
        let backend = find_http_backend()?;
        let dir = tempfile::Builder::new()
            .prefix("promote-http-")
            .tempdir()
            .map_err(|e| Error::io("creating HTTP server directory", e))?;
        let www = dir.path().join("www");
        let upload = dir.path().join("upload");
        for d in [&www, &upload] {
            std::fs::create_dir(d)
                .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
        }
        let nonce = random_hex(16)?;
        write_with_mode(&www.join("fixture-id"), &nonce, 0o644)?;
        let credentials = HttpCredentials::new(format!("git-{}", random_hex(3)?), random_hex(16)?);
        // lighttpd's "plain" backend: one `user:password` line.
        let users = dir.path().join("users");
        write_with_mode(
            &users,
            &format!("{}:{}\n", credentials.username, credentials.password),
            0o600,
        )?;
        write_credential_file(&dir.path().join("credentials"), &credentials)?;

        let (port, process) = start_on_free_port(|port| {
            let config = dir.path().join("lighttpd.conf");
            let text = lighttpd_config(port, dir.path(), repos.path(), &backend, &users);
            write_with_mode(&config, &text, 0o600)?;
            let args: Vec<OsString> = vec!["-D".into(), "-f".into(), config.into()];
            let process = ServerProcess::new(
                "lighttpd",
                lighttpd.clone(),
                args,
                dir.path().join("lighttpd.log"),
            );
            process.start(port, &mut |_| probe(port, &nonce))?;
            Ok((port, process))
        })?;
        Ok(HttpServer {
            process,
            port,
            nonce,
            credentials,
            helper_count: AtomicU32::new(0),
            repos: repos.clone(),
            dir,
        })
    }

    /// The port on 127.0.0.1 (unchanged across [`HttpServer::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/git`; a repository's URL is this plus `/<name>.git`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}{GIT_PREFIX}", self.port)
    }

    /// URL of repository `name` (`.git` appended if missing), without credentials.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{}", self.base_url(), repo_name(name))
    }

    /// The only credentials the server accepts.
    pub fn credentials(&self) -> &HttpCredentials {
        &self.credentials
    }

    /// The directory of repositories being served.
    pub fn repos(&self) -> &RepoDir {
        &self.repos
    }

    /// Repository `name` as a [`Remote`] whose `git` commands authenticate with the right
    /// credentials.
    pub fn remote(&self, name: &str) -> Remote {
        remote_with_helper(self.url(name), &self.dir.path().join("credentials"))
    }

    /// Repository `name` as a [`Remote`] authenticating with `credentials`, or anonymously when
    /// `None` (both for negative tests).
    pub fn remote_as(&self, name: &str, credentials: Option<&HttpCredentials>) -> Result<Remote> {
        let Some(credentials) = credentials else {
            return Ok(Remote::new(self.url(name)));
        };
        let n = self.helper_count.fetch_add(1, Ordering::Relaxed);
        let file = self.dir.path().join(format!("credentials-{n}"));
        write_credential_file(&file, credentials)?;
        Ok(remote_with_helper(self.url(name), &file))
    }

    /// Stops the server: lets requests that are ending finish (up to 300 ms), then SIGKILLs
    /// lighttpd and its CGI children by PID and reaps lighttpd. Connections are refused until
    /// [`HttpServer::restart`]. Idempotent.
    pub fn stop(&self) {
        self.process.stop();
    }

    /// Starts the server again on the same port (stopping it first if it runs) and waits until
    /// it answers. Fails with a retryable error if another process took the port meanwhile.
    pub fn restart(&self) -> Result<()> {
        self.process.stop();
        self.process
            .start(self.port, &mut |_| probe(self.port, &self.nonce))
    }

    /// True while lighttpd runs.
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// PID of lighttpd while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// lighttpd's log so far (start-up messages and errors; no credentials).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        // Before `dir` goes away, so lighttpd never runs without its files.
        self.process.stop();
    }
}

fn write_credential_file(path: &Path, credentials: &HttpCredentials) -> Result<()> {
    write_with_mode(
        path,
        &format!(
            "username={}\npassword={}\n",
            credentials.username, credentials.password
        ),
        0o600,
    )
}

/// A remote whose credential helper prints `file` (the secret stays out of argv and the URL).
fn remote_with_helper(url: String, file: &Path) -> Remote {
    let helper = format!(
        "!f() {{ if [ \"$1\" = get ]; then cat {}; fi; }}; f",
        shell_quote(&file.to_string_lossy())
    );
    Remote::new(url)
        .with_env("GIT_CONFIG_COUNT", "1")
        .with_env("GIT_CONFIG_KEY_0", "credential.helper")
        .with_env("GIT_CONFIG_VALUE_0", helper)
}

/// Fetches `/fixture-id` and checks it is this server's nonce (not another process on the port).
fn probe(port: u16, nonce: &str) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = "GET /fixture-id HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut response = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut response).is_ok()
        && response.split_whitespace().nth(1) == Some("200")
        && response.ends_with(nonce)
}

/// lighttpd string literal.
fn quoted(path: &Path) -> String {
    let s = path.to_string_lossy();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn lighttpd_config(port: u16, dir: &Path, repos: &Path, backend: &Path, users: &Path) -> String {
    let backend_dir = PathBuf::from(format!("{}/", backend.display()));
    let git_env = [
        ("GIT_PROJECT_ROOT", quoted(repos)),
        ("GIT_HTTP_EXPORT_ALL", "\"1\"".to_owned()),
        ("GIT_CONFIG_NOSYSTEM", "\"1\"".to_owned()),
        ("HOME", quoted(dir)),
        ("PATH", "\"/usr/bin:/bin\"".to_owned()),
        ("GIT_CONFIG_COUNT", "\"2\"".to_owned()),
        ("GIT_CONFIG_KEY_0", "\"http.receivepack\"".to_owned()),
        ("GIT_CONFIG_VALUE_0", "\"true\"".to_owned()),
        // The server may run as a different user than the one who created the repositories.
        ("GIT_CONFIG_KEY_1", "\"safe.directory\"".to_owned()),
        ("GIT_CONFIG_VALUE_1", "\"*\"".to_owned()),
    ]
    .iter()
    .map(|(k, v)| format!("    \"{k}\" => {v},\n"))
    .collect::<String>();
    format!(
        r#"server.document-root = {www}
server.bind = "127.0.0.1"
server.port = {port}
server.upload-dirs = ({upload})
# Buffer request bodies (in upload-dirs): CGI needs CONTENT_LENGTH, and git sends pushes over
# http.postBuffer chunked; streaming them would get "411 Length Required".
server.stream-request-body = 0
server.stream-response-body = 2
# lighttpd delays every 401 for wrong credentials by a second; negative tests need no such wait.
server.feature-flags = ("auth.delay-invalid-creds" => "disable")
server.modules = ("mod_alias", "mod_setenv", "mod_auth", "mod_authn_file", "mod_cgi")
index-file.names = ()
alias.url = ("{GIT_PREFIX}/" => {backend})
$HTTP["url"] =^ "{GIT_PREFIX}/" {{
  cgi.assign = ("" => "")
  setenv.set-environment = (
{git_env}  )
  auth.backend = "plain"
  auth.backend.plain.userfile = {users}
  auth.require = ("" => ("method" => "basic", "realm" => "promote-git", "require" => "valid-user"))
}}
"#,
        www = quoted(&dir.join("www")),
        upload = quoted(&dir.join("upload")),
        backend = quoted(&backend_dir),
        users = quoted(users),
    )
}
