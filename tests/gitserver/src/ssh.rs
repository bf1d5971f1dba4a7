//! SSH: a private `sshd` (own config, own host key, key auth only) as the current user.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use tempfile::TempDir;

use crate::cmd::{
    current_user, find_binary, is_root, output, random_hex, run_as, shell_quote, write_with_mode,
};
use crate::error::{Error, Result};
use crate::process::{ServerProcess, poll_until, start_on_free_port};
use crate::remote::Remote;
use crate::repo::{RepoDir, repo_name};

/// How often [`SshServer::wait_for_log`] reads the log.
const LOG_POLL: Duration = Duration::from_millis(20);

/// Key algorithm for the host key and the client keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `ssh-ed25519` (fast to generate; the default).
    #[default]
    Ed25519,
    /// `ecdsa-sha2-nistp256`.
    Ecdsa,
    /// `rsa-sha2-*`, 3072 bits (slow to generate).
    Rsa,
}

impl KeyType {
    fn keygen_args(self) -> &'static [&'static str] {
        match self {
            KeyType::Ed25519 => &["-t", "ed25519"],
            KeyType::Ecdsa => &["-t", "ecdsa", "-b", "256"],
            KeyType::Rsa => &["-t", "rsa", "-b", "3072"],
        }
    }
}

/// Options for [`SshServer::start_with`].
#[derive(Clone, Debug, Default)]
pub struct SshOptions {
    /// Algorithm of the host key and of every generated client key.
    pub key_type: KeyType,
}

/// A key pair the fixture generated (OpenSSH private key format). `Debug` hides the passphrase.
#[derive(Clone)]
pub struct SshKey {
    private_path: PathBuf,
    public: String,
    passphrase: Option<String>,
}

impl fmt::Debug for SshKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshKey")
            .field("private_path", &self.private_path)
            .field("public", &self.public)
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl SshKey {
    /// Path of the private key file (mode 0600).
    pub fn private_key_path(&self) -> &Path {
        &self.private_path
    }

    /// Path of the public key file (`<private>.pub`).
    pub fn public_key_path(&self) -> PathBuf {
        pub_path(&self.private_path)
    }

    /// The private key file's content (for credentials handed over in memory, e.g. a Secret).
    pub fn private_key(&self) -> Result<String> {
        std::fs::read_to_string(&self.private_path)
            .map_err(|e| Error::io(format!("reading {}", self.private_path.display()), e))
    }

    /// The public key line: `<algorithm> <base64> <comment>`.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The passphrase protecting the private key, if any.
    pub fn passphrase(&self) -> Option<&str> {
        self.passphrase.as_deref()
    }
}

fn pub_path(private: &Path) -> PathBuf {
    let mut p = private.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

fn keygen(
    path: &Path,
    key_type: KeyType,
    comment: &str,
    passphrase: Option<&str>,
) -> Result<SshKey> {
    let mut cmd = Command::new(find_binary("ssh-keygen", "openssh-client")?);
    cmd.arg("-q")
        .args(key_type.keygen_args())
        .args(["-N", passphrase.unwrap_or(""), "-C", comment, "-f"])
        .arg(path);
    // The passphrase is an argument, so errors name the key, not the command line.
    run_as(&mut cmd, &format!("ssh-keygen -f {}", path.display()))?;
    let public = std::fs::read_to_string(pub_path(path))
        .map_err(|e| Error::io(format!("reading {}.pub", path.display()), e))?;
    Ok(SshKey {
        private_path: path.to_path_buf(),
        public: public.trim().to_owned(),
        passphrase: passphrase.map(str::to_owned),
    })
}

/// A git server over SSH: `sshd` with its own configuration and host key on
/// `127.0.0.1:<free port>`, public-key auth only, running as the current user (root or not).
/// Repositories of a [`RepoDir`] are reachable as `ssh://USER@127.0.0.1:PORT/<abs path>/<name>.git`.
///
/// It generates an authorized client key, an unauthorized one, and an authorized
/// passphrase-protected one, plus `known_hosts` lines for the real host key and for a different
/// key (to test "host key changed"). Dropping it stops it like [`SshServer::stop`] and removes
/// its files.
#[derive(Debug)]
pub struct SshServer {
    process: ServerProcess,
    port: u16,
    user: String,
    host_key: SshKey,
    known_hosts_line: String,
    wrong_known_hosts_line: String,
    known_hosts_path: PathBuf,
    authorized: SshKey,
    unauthorized: SshKey,
    passphrase_key: SshKey,
    askpass: PathBuf,
    repos: RepoDir,
    dir: TempDir,
}

impl SshServer {
    /// Starts sshd for `repos` with ed25519 keys and waits until it listens. Blocks.
    pub fn start(repos: &RepoDir) -> Result<SshServer> {
        Self::start_with(repos, SshOptions::default())
    }

    /// Starts sshd with `options` and waits until it listens. Blocks.
    pub fn start_with(repos: &RepoDir, options: SshOptions) -> Result<SshServer> {
        let sshd = find_binary("sshd", "openssh-server")?;
        find_binary("ssh", "openssh-client")?;
        let user = current_user()?;
        if is_root() {
            ensure_privsep_dir()?;
            refuse_locked_account(&user)?;
        }
        let dir = tempfile::Builder::new()
            .prefix("promote-ssh-")
            .tempdir()
            .map_err(|e| Error::io("creating SSH server directory", e))?;
        let d = dir.path();
        let kt = options.key_type;
        let host_key = keygen(&d.join("host_key"), kt, "", None)?;
        let other_host_key = keygen(&d.join("other_host_key"), kt, "", None)?;
        let authorized = keygen(&d.join("client_key"), kt, "promote-authorized", None)?;
        let unauthorized = keygen(
            &d.join("other_client_key"),
            kt,
            "promote-unauthorized",
            None,
        )?;
        let passphrase = random_hex(12)?;
        let passphrase_key = keygen(
            &d.join("passphrase_key"),
            kt,
            "promote-passphrase",
            Some(&passphrase),
        )?;
        let authorized_keys = d.join("authorized_keys");
        write_with_mode(
            &authorized_keys,
            &format!("{}\n{}\n", authorized.public, passphrase_key.public),
            0o600,
        )?;
        // ssh runs SSH_ASKPASS as a program; it prints the passphrase from a private file.
        let passphrase_file = d.join("passphrase");
        write_with_mode(&passphrase_file, &format!("{passphrase}\n"), 0o600)?;
        let askpass = d.join("askpass");
        write_with_mode(
            &askpass,
            &format!(
                "#!/bin/sh\ncat {}\n",
                shell_quote(&passphrase_file.to_string_lossy())
            ),
            0o700,
        )?;

        let config_path = d.join("sshd_config");
        let (port, process) = start_on_free_port(|port| {
            let penalties = supports_per_source_penalties(&sshd, &config_path, &host_key, &user)?;
            let config = sshd_config(port, &user, &host_key, &authorized_keys, penalties);
            write_with_mode(&config_path, &config, 0o600)?;
            // -D: stay in the foreground; -e: log to stderr (our log file).
            let args: Vec<OsString> = vec![
                "-D".into(),
                "-e".into(),
                "-f".into(),
                config_path.clone().into(),
            ];
            let process = ServerProcess::new("sshd", sshd.clone(), args, d.join("sshd.log"));
            let listening = format!("Server listening on 127.0.0.1 port {port}.");
            process.start(port, &mut |log| log.contains(&listening))?;
            Ok((port, process))
        })?;

        let right_line = known_hosts_line(port, &host_key.public);
        let wrong_line = known_hosts_line(port, &other_host_key.public);
        let known_hosts_path = d.join("known_hosts");
        write_with_mode(&known_hosts_path, &format!("{right_line}\n"), 0o644)?;
        Ok(SshServer {
            process,
            port,
            user,
            host_key,
            known_hosts_line: right_line,
            wrong_known_hosts_line: wrong_line,
            known_hosts_path,
            authorized,
            unauthorized,
            passphrase_key,
            askpass,
            repos: repos.clone(),
            dir,
        })
    }

    /// The port on 127.0.0.1 (unchanged across [`SshServer::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The login user (the user running the tests).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// `ssh://USER@127.0.0.1:PORT/<abs path of the repo dir>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}/{}",
            self.user,
            self.port,
            self.repos.path().display(),
            repo_name(name)
        )
    }

    /// The directory of repositories being served.
    pub fn repos(&self) -> &RepoDir {
        &self.repos
    }

    /// A client key listed in `authorized_keys` (no passphrase).
    pub fn authorized_key(&self) -> &SshKey {
        &self.authorized
    }

    /// A client key the server does not accept.
    pub fn unauthorized_key(&self) -> &SshKey {
        &self.unauthorized
    }

    /// An authorized client key protected by a passphrase ([`SshKey::passphrase`]).
    pub fn passphrase_key(&self) -> &SshKey {
        &self.passphrase_key
    }

    /// The server's public host key: `<algorithm> <base64>`.
    pub fn host_public_key(&self) -> &str {
        &self.host_key.public
    }

    /// `known_hosts` line for this server: `[127.0.0.1]:PORT <algorithm> <base64>`.
    pub fn known_hosts_line(&self) -> &str {
        &self.known_hosts_line
    }

    /// A `known_hosts` line for the same host with a different key ("host key changed").
    pub fn wrong_known_hosts_line(&self) -> &str {
        &self.wrong_known_hosts_line
    }

    /// A `known_hosts` file holding just [`SshServer::known_hosts_line`].
    pub fn known_hosts_file(&self) -> &Path {
        &self.known_hosts_path
    }

    /// A `GIT_SSH_COMMAND` value: OpenSSH with no user config or agent, only `key`, and strict
    /// host key checking against `known_hosts`. Passphrase keys need [`SshServer::remote_with`]
    /// (which also sets `SSH_ASKPASS`).
    pub fn ssh_command(&self, key: &SshKey, known_hosts: &Path) -> String {
        let batch = if key.passphrase.is_some() {
            "no"
        } else {
            "yes"
        };
        format!(
            "ssh -F /dev/null -i {key} -o IdentitiesOnly=yes -o IdentityAgent=none \
             -o UserKnownHostsFile={kh} -o GlobalKnownHostsFile=/dev/null \
             -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o BatchMode={batch} \
             -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
             -o ConnectTimeout=10 -o LogLevel=ERROR",
            key = shell_quote(&key.private_path.to_string_lossy()),
            kh = shell_quote(&known_hosts.to_string_lossy()),
        )
    }

    /// Repository `name` as a [`Remote`] using the authorized key and [`SshServer::known_hosts_file`].
    pub fn remote(&self, name: &str) -> Remote {
        self.remote_with(name, &self.authorized, &self.known_hosts_path)
    }

    /// Repository `name` as a [`Remote`] using `key` and the `known_hosts` file given.
    pub fn remote_with(&self, name: &str, key: &SshKey, known_hosts: &Path) -> Remote {
        let mut remote = Remote::new(self.url(name))
            .with_env("GIT_SSH_COMMAND", self.ssh_command(key, known_hosts))
            .with_env("GIT_SSH_VARIANT", "ssh");
        if key.passphrase.is_some() {
            remote = remote
                .with_env("SSH_ASKPASS", self.askpass.to_string_lossy())
                .with_env("SSH_ASKPASS_REQUIRE", "force");
        }
        remote
    }

    /// Stops sshd: lets sessions that are ending finish (up to 300 ms), then SIGKILLs sshd and
    /// its session processes by PID, cutting open sessions, and reaps sshd. Connections are
    /// refused until [`SshServer::restart`]. Idempotent.
    pub fn stop(&self) {
        self.process.stop();
    }

    /// Starts sshd again on the same port (stopping it first if it runs) and waits until it
    /// listens. Fails with a retryable error if another process took the port meanwhile.
    pub fn restart(&self) -> Result<()> {
        self.process.stop();
        let listening = format!("Server listening on 127.0.0.1 port {}.", self.port);
        self.process
            .start(self.port, &mut |log| log.contains(&listening))
    }

    /// True while sshd runs.
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// PID of the listening sshd while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// sshd's log so far (connections, accepted and refused keys; no secrets).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Waits up to `timeout` until sshd's log contains `needle` (for a test to know that a
    /// session reached the server); false if it did not.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        poll_until(timeout, LOG_POLL, || {
            self.log().contains(needle).then_some(())
        })
        .is_some()
    }

    /// The directory holding the server's keys and configuration.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        // Before `dir` goes away, so sshd never runs without its files.
        self.process.stop();
    }
}

fn known_hosts_line(port: u16, public: &str) -> String {
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    format!("[127.0.0.1]:{port} {}", key.join(" "))
}

/// sshd refuses to start as root without its privilege separation directory.
fn ensure_privsep_dir() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = Path::new("/run/sshd");
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| {
            Error::io(
                "creating /run/sshd (sshd's privilege separation directory)",
                e,
            )
        })
}

/// With `UsePAM no`, sshd refuses accounts whose password field starts with `!` (locked), even
/// for key logins. Only root can read `/etc/shadow`; other users' sshd cannot see the lock.
fn refuse_locked_account(user: &str) -> Result<()> {
    let Ok(shadow) = std::fs::read_to_string("/etc/shadow") else {
        return Ok(());
    };
    let locked = shadow
        .lines()
        .filter_map(|l| l.split_once(':'))
        .any(|(name, rest)| name == user && rest.starts_with('!'));
    if locked {
        return Err(Error::Setup {
            server: "sshd",
            problem: format!(
                "account `{user}` is locked in /etc/shadow (password field starts with `!`), and \
                 sshd without PAM refuses key logins to locked accounts; disable password login \
                 without locking with `usermod -p '*' {user}`"
            ),
        });
    }
    Ok(())
}

/// OpenSSH 9.8+ penalises addresses that fail authentication, which would make negative tests
/// lock out 127.0.0.1; older versions reject the option. Probed once per process.
fn supports_per_source_penalties(
    sshd: &Path,
    config_path: &Path,
    host_key: &SshKey,
    user: &str,
) -> Result<bool> {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    if let Some(known) = SUPPORTED.get() {
        return Ok(*known);
    }
    let probe = format!(
        "HostKey {}\nAllowUsers {user}\nPerSourcePenalties no\n",
        host_key.private_path.display()
    );
    let probe_path = config_path.with_extension("probe");
    write_with_mode(&probe_path, &probe, 0o600)?;
    let mut cmd = Command::new(sshd);
    cmd.arg("-t").arg("-f").arg(&probe_path);
    let out = output(&mut cmd, "sshd -t")?;
    let rejected = String::from_utf8_lossy(&out.stderr).contains("PerSourcePenalties");
    Ok(*SUPPORTED.get_or_init(|| out.status.success() || !rejected))
}

fn sshd_config(
    port: u16,
    user: &str,
    host_key: &SshKey,
    authorized_keys: &Path,
    penalties: bool,
) -> String {
    let mut config = format!(
        "# Written by promote-gitserver; the system sshd_config is not read.
Port {port}
ListenAddress 127.0.0.1
AddressFamily inet
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized_keys}
AuthorizedKeysCommand none
AuthorizedPrincipalsFile none
AllowUsers {user}
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitEmptyPasswords no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
UseDNS no
PermitUserEnvironment no
PermitUserRC no
PermitTTY no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
PermitTunnel no
PrintMotd no
PrintLastLog no
Banner none
AcceptEnv GIT_PROTOCOL
# bash sources ~/.bashrc for commands run by sshd unless it looks nested; the user's shell
# setup (version managers, prompts, output) must neither slow down nor corrupt git sessions.
SetEnv SHLVL=1
LoginGraceTime 30
MaxAuthTries 10
MaxStartups 1024
MaxSessions 64
LogLevel VERBOSE
",
        host_key = host_key.private_path.display(),
        authorized_keys = authorized_keys.display(),
    );
    if penalties {
        config.push_str("PerSourcePenalties no\n");
    }
    config
}
