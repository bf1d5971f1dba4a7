//! The cluster verbs: `get`, `describe`, `history` read Promotions, `diff` previews a
//! promotion through the git engine; `approve`, `pin`, `unpin`, `suspend`, `resume`, `reset`
//! change their spec with merge patches. Each reads the object first, so
//! a missing one exits 4 and a change that is already in place is not sent again.

mod connect;
mod describe;
mod diff;
mod edit;
mod error;
mod history;
mod table;
mod views;

use std::io::Write as _;
use std::process::ExitCode;

use jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt as _};
use promote_api::Promotion;
use serde_json::Value;

pub use connect::ClusterArgs;
use connect::{Connection, connect, identity};
use describe::Hints;
pub use error::Failure;
use views::Output;

/// The field manager of the plugin's patches.
const FIELD_MANAGER: &str = "kubectl-promote";
/// How often an approval is tried again when the object changed between read and write.
const APPROVE_ATTEMPTS: usize = 3;

/// The verbs that talk to a cluster.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// List Promotions: versions, phase, drift and policy of each lane.
    Get(GetArgs),
    /// Show one Promotion: versions, drift, policy, last promotion, conditions, what to do next.
    Describe(NameArgs),
    /// Approve a version: sets spec.approval (version, approvedBy, approvedAt, note).
    ///
    /// VERSION defaults to the source's current version (status.source.version). A VERSION
    /// that is not the source's current version is refused unless --force: the operator
    /// moves an approved version only while the source holds it. approvedBy is who the API
    /// server says you are when it serves SelfSubjectReview, else the name of the kubeconfig
    /// context's user; the operator dates the approval itself when it first sees it.
    Approve(ApproveArgs),
    /// Hold the target at VERSION (spec.pin): the operator writes it and keeps it there.
    Pin(PinArgs),
    /// Clear spec.pin: the target follows the source again.
    Unpin(NameArgs),
    /// Stop acting on the lane (spec.suspend): nothing is committed; status is still reported.
    Suspend(NameArgs),
    /// Act on the lane again (clears spec.suspend).
    Resume(NameArgs),
    /// The lane's promotions, rollbacks and resets (status.history), newest first, with their
    /// release notes: the approval's note, the source commits each brought, the verification.
    History(HistoryArgs),
    /// Reset the source to the target's version (dev to the prod baseline): sets spec.reset.
    ///
    /// The operator writes the target's release fields into the source's release file as one
    /// commit and verifies it on the source's Application; it refuses while a promotion is in
    /// flight (ask again once it finished). Each call is a new request with its own id;
    /// requestedBy is your identity as for approve.
    Reset(NameArgs),
    /// What promoting now would change in the target's release file, as a unified diff.
    ///
    /// Reads the source's version (or the pin) and the target file at the newest tip of the
    /// lane's branch with the lane's credentials Secret, and edits the target in memory the
    /// way the operator would; nothing is committed or pushed. Exit status 0 whether or not
    /// there is a change.
    Diff(NameArgs),
}

/// Arguments of `get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// One Promotion; all in the namespace when left out.
    pub name: Option<String>,
    /// List Promotions in every namespace.
    #[arg(short = 'A', long, conflicts_with = "name")]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<Output>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// A Promotion's name and where its cluster is.
#[derive(Debug, clap::Args)]
pub struct NameArgs {
    /// The Promotion.
    pub name: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Arguments of `history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The Promotion.
    pub name: String,
    /// Output format: the records as JSON or YAML (`wide` is the table).
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<Output>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Arguments of `approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The Promotion.
    pub name: String,
    /// The version to approve (default: the source's current version).
    pub version: Option<String>,
    /// The change summary shown with the approval.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Approve VERSION even though it is not the source's current version.
    #[arg(long)]
    pub force: bool,
    /// Promote VERSION although it was rejected (it failed verification, or a person
    /// replaced it in the target); without this a rejected version never moves again.
    #[arg(long)]
    pub allow_rejected: bool,
    /// Promote VERSION once even while the lane's release windows (spec.windows) are closed;
    /// the history records it, with who approved it and the note as the reason.
    #[arg(long)]
    pub override_window: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Arguments of `pin`.
#[derive(Debug, clap::Args)]
pub struct PinArgs {
    /// The Promotion.
    pub name: String,
    /// The version to hold the target at.
    pub version: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Runs one cluster verb and returns the process exit status.
pub fn run(command: ClusterCommand) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("cannot start the async runtime: {e}")))
        .and_then(|runtime| runtime.block_on(dispatch(command)));
    match result {
        Ok(text) => {
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("error: {}", f.message);
            if let Some(hint) = &f.hint {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(f.code)
        }
    }
}

async fn dispatch(command: ClusterCommand) -> Result<String, Failure> {
    match command {
        ClusterCommand::Get(args) => get(args).await,
        ClusterCommand::Describe(args) => {
            let (conn, p) = fetch(&args).await?;
            Ok(describe::describe(&p, Timestamp::now(), &hints(&conn)))
        }
        ClusterCommand::History(args) => {
            let target = NameArgs {
                name: args.name,
                cluster: args.cluster,
            };
            let (_, p) = fetch(&target).await?;
            history::render(&p, args.output)
                .map_err(|e| Failure::error(format!("cannot print the output: {e}")))
        }
        ClusterCommand::Reset(args) => reset(args).await,
        ClusterCommand::Diff(args) => {
            let (conn, p) = fetch(&args).await?;
            diff::diff(&conn, &p).await
        }
        ClusterCommand::Approve(args) => approve(args).await,
        ClusterCommand::Pin(args) => {
            edit::valid(&args.version)?;
            let target = NameArgs {
                name: args.name,
                cluster: args.cluster,
            };
            set(&target, Setting::Pin(Some(args.version))).await
        }
        ClusterCommand::Unpin(args) => set(&args, Setting::Pin(None)).await,
        ClusterCommand::Suspend(args) => set(&args, Setting::Suspend(true)).await,
        ClusterCommand::Resume(args) => set(&args, Setting::Suspend(false)).await,
    }
}

fn hints(conn: &Connection) -> Hints {
    Hints {
        namespace: conn.namespace.clone(),
        default_namespace: conn.default_namespace.clone(),
    }
}

fn api(conn: &Connection) -> Api<Promotion> {
    Api::namespaced(conn.client.clone(), &conn.namespace)
}

async fn read(client: &Client, namespace: &str, name: &str) -> Result<Promotion, Failure> {
    Api::<Promotion>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .map_err(|e| {
            Failure::kube(
                &format!("get promotion {name}"),
                Some(name),
                Some(namespace),
                e,
            )
        })
}

async fn fetch(args: &NameArgs) -> Result<(Connection, Promotion), Failure> {
    let conn = connect(&args.cluster).await?;
    let p = read(&conn.client, &conn.namespace, &args.name).await?;
    Ok((conn, p))
}

async fn get(args: GetArgs) -> Result<String, Failure> {
    let conn = connect(&args.cluster).await?;
    let items = match &args.name {
        Some(name) => vec![read(&conn.client, &conn.namespace, name).await?],
        None => {
            let api = if args.all_namespaces {
                Api::all(conn.client.clone())
            } else {
                api(&conn)
            };
            let mut items = api
                .list(&ListParams::default())
                .await
                .map_err(|e| Failure::kube("list promotions", None, None, e))?
                .items;
            items.sort_by_key(|p| (p.namespace(), p.name_any()));
            items
        }
    };
    if items.is_empty() && args.output.is_none_or(|o| o == Output::Wide) {
        if args.all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {} namespace.", conn.namespace);
        }
        return Ok(String::new());
    }
    match args.output {
        None | Some(Output::Wide) => Ok(views::get_table(
            &items,
            args.output == Some(Output::Wide),
            args.all_namespaces,
            Timestamp::now(),
        )),
        Some(format) => views::serialized(items, args.name.is_some(), format)
            .map_err(|e| Failure::error(format!("cannot print the output: {e}"))),
    }
}

async fn approve(args: ApproveArgs) -> Result<String, Failure> {
    if let Some(v) = &args.version {
        edit::valid(v)?;
    }
    let conn = connect(&args.cluster).await?;
    let who = identity(&conn).await;
    let api = api(&conn);
    let name = &args.name;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let p = read(&conn.client, &conn.namespace, name).await?;
        let version = edit::approval_version(&p, args.version.as_deref(), args.force)?;
        let body = edit::approve(
            &p,
            &version,
            who.as_ref().map(|(w, _)| w.as_str()),
            Timestamp::now(),
            args.note.as_deref(),
            edit::Allow {
                rejected: args.allow_rejected,
                closed_window: args.override_window,
            },
        )?;
        match patch(&api, name, &body).await {
            Err(f) if f.code == error::EXIT_CONFLICT && attempt < APPROVE_ATTEMPTS => continue,
            Err(mut f) if f.code == error::EXIT_CONFLICT => {
                f.message = format!("promotion {name} kept changing; nothing was approved");
                return Err(f.hint("run the command again"));
            }
            Err(f) => return Err(f),
            Ok(_) => {}
        }
        let by = match &who {
            Some((w, source)) => format!(" by {w} ({})", source.describe()),
            None => " (approver unknown: the kubeconfig names no user)".into(),
        };
        let mut text = format!(
            "promotion {name}: approved {version} for {}{by}\n",
            p.spec.target.environment
        );
        if p.spec.trigger == promote_api::Trigger::Auto {
            text.push_str("note: the lane's trigger is Auto; it does not wait for approvals\n");
        }
        text.push_str(&edit::window_note(&p, args.override_window));
        return Ok(text);
    }
}

async fn reset(args: NameArgs) -> Result<String, Failure> {
    let (conn, p) = fetch(&args).await?;
    let who = identity(&conn).await;
    let now = Timestamp::now();
    let id = format!("{}", now.as_millisecond());
    let body = serde_json::json!({"spec": {"reset": {
        "id": id,
        "requestedBy": who.as_ref().map(|(w, _)| w.as_str()),
        "requestedAt": now.to_string(),
    }}});
    patch(&api(&conn), &args.name, &body).await?;
    let (src, dst) = (&p.spec.source.environment, &p.spec.target.environment);
    let ns = if conn.namespace == conn.default_namespace {
        String::new()
    } else {
        format!(" -n {}", conn.namespace)
    };
    Ok(format!(
        "promotion {}: reset of {src} to {dst}'s version requested (id {id}); watch it with kubectl promote describe {}{ns}\n",
        args.name, args.name
    ))
}

/// One spec setting of the simple verbs.
#[derive(Debug)]
enum Setting {
    Pin(Option<String>),
    Suspend(bool),
}

async fn set(args: &NameArgs, setting: Setting) -> Result<String, Failure> {
    let (conn, p) = fetch(args).await?;
    let name = &args.name;
    let (src, dst) = (&p.spec.source.environment, &p.spec.target.environment);
    let (already, body, done) = match &setting {
        Setting::Pin(Some(v)) => (
            p.spec.pin.as_ref() == Some(v),
            edit::pin(Some(v)),
            format!("{dst} pinned at {v}; the operator holds it there until unpin"),
        ),
        Setting::Pin(None) => (
            p.spec.pin.is_none(),
            edit::pin(None),
            format!("unpinned; {dst} follows {src} again"),
        ),
        Setting::Suspend(true) => (
            p.spec.suspend,
            edit::suspend(true),
            "suspended; nothing is committed until resume".to_owned(),
        ),
        Setting::Suspend(false) => (!p.spec.suspend, edit::suspend(false), "resumed".to_owned()),
    };
    if already {
        let state = match setting {
            Setting::Pin(Some(v)) => format!("already pinned at {v}"),
            Setting::Pin(None) => "not pinned".into(),
            Setting::Suspend(true) => "already suspended".into(),
            Setting::Suspend(false) => "not suspended".into(),
        };
        return Ok(format!("promotion {name}: {state}; nothing changed\n"));
    }
    patch(&api(&conn), name, &body).await?;
    Ok(format!("promotion {name}: {done}\n"))
}

async fn patch(api: &Api<Promotion>, name: &str, body: &Value) -> Result<Promotion, Failure> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch(name, &params, &Patch::Merge(body))
        .await
        .map_err(|e| {
            Failure::kube(
                &format!("patch promotion {name}"),
                Some(name),
                api.namespace(),
                e,
            )
        })
}
