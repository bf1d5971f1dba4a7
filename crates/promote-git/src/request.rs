//! What a caller asks the engine to do, and what came of it.

use std::fmt;

use crate::auth::RemoteSpec;

/// A person or bot named in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

impl Identity {
    /// An identity from a name and an e-mail address.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            email: email.into(),
        }
    }
}

/// Where the promoted values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Read the values from a file on the branch.
    File {
        /// The source values file, relative to the repository root.
        file: String,
        /// The fields to read, in the same order as the target's fields.
        fields: Vec<String>,
        /// The source environment's name, for the commit message.
        environment: Option<String>,
        /// Compare-and-swap on the source: the values the decision was made on (an approved
        /// version). If the source no longer holds them, the outcome is a conflict.
        expect: Option<Vec<String>>,
    },
    /// Write these values (a pin, a rollback, a reset to a known version).
    Values {
        /// What the values are, for the commit message (`pin`, `rollback`).
        label: String,
        /// The values, in the same order as the target's fields.
        values: Vec<String>,
    },
}

impl Source {
    /// Values read from `file` at `fields`.
    pub fn file(file: impl Into<String>, fields: &[&str]) -> Self {
        Self::File {
            file: file.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            environment: None,
            expect: None,
        }
    }

    /// Names the source environment (only for files).
    pub fn environment(mut self, name: impl Into<String>) -> Self {
        if let Self::File { environment, .. } = &mut self {
            *environment = Some(name.into());
        }
        self
    }

    /// Requires the source file to hold these values (only for files).
    pub fn expect(mut self, values: Vec<String>) -> Self {
        if let Self::File { expect, .. } = &mut self {
            *expect = Some(values);
        }
        self
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::File { fields, .. } => fields.len(),
            Self::Values { values, .. } => values.len(),
        }
    }
}

/// Where the values are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The target values file, relative to the repository root.
    pub file: String,
    /// The fields to write.
    pub fields: Vec<String>,
    /// The target environment's name, for the commit message.
    pub environment: Option<String>,
}

impl Target {
    /// Writes `fields` of `file`.
    pub fn new(file: impl Into<String>, fields: &[&str]) -> Self {
        Self {
            file: file.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            environment: None,
        }
    }

    /// Names the target environment.
    pub fn environment(mut self, name: impl Into<String>) -> Self {
        self.environment = Some(name.into());
        self
    }
}

/// One promotion: copy values from a source into a target, in one commit, if the target still
/// holds what the decision was made on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionRequest {
    /// The repository.
    pub remote: RemoteSpec,
    /// The branch to commit on.
    pub branch: String,
    /// The lane's identity, `namespace/name`; written as the `Promotion:` trailer
    /// ([`TRAILER_PROMOTION`](crate::TRAILER_PROMOTION)).
    pub promotion: String,
    /// The application's name for the commit message; the target file's stem when absent.
    pub app: Option<String>,
    /// Where the values come from.
    pub source: Source,
    /// Where they go.
    pub target: Target,
    /// Compare-and-swap on the target: the values the decision was made on. When absent, the
    /// values read on the first attempt are used for every retry.
    pub expect_target: Option<Vec<String>>,
    /// The commit's author; the engine's committer when absent.
    pub author: Option<Identity>,
    /// Who approved, for the message body (`approved by: …`) and the `Promote-Approved-By:`
    /// trailer ([`TRAILER_APPROVED_BY`](crate::TRAILER_APPROVED_BY)); an automatic promotion
    /// has none.
    pub approved_by: Option<String>,
    /// Free text added to the commit message body.
    pub note: Option<String>,
    /// A Markdown deployment log in the repository that gets an entry for this change in the
    /// same commit (created when missing; its directory must exist).
    pub log_file: Option<String>,
}

impl PromotionRequest {
    /// A request with no compare-and-swap expectation, author, approver or note.
    pub fn new(
        remote: RemoteSpec,
        branch: impl Into<String>,
        promotion: impl Into<String>,
        source: Source,
        target: Target,
    ) -> Self {
        Self {
            remote,
            branch: branch.into(),
            promotion: promotion.into(),
            app: None,
            source,
            target,
            expect_target: None,
            author: None,
            approved_by: None,
            note: None,
            log_file: None,
        }
    }

    /// Sets the values the target must still hold.
    pub fn expect_target(mut self, values: Vec<String>) -> Self {
        self.expect_target = Some(values);
        self
    }

    /// Sets the application name shown in the message.
    pub fn app(mut self, app: impl Into<String>) -> Self {
        self.app = Some(app.into());
        self
    }

    /// Sets the commit author.
    pub fn author(mut self, author: Identity) -> Self {
        self.author = Some(author);
        self
    }

    /// Sets who approved.
    pub fn approved_by(mut self, who: impl Into<String>) -> Self {
        self.approved_by = Some(who.into());
        self
    }

    /// Keeps a deployment log entry for this change in `path`, in the same commit.
    pub fn log_file(mut self, path: impl Into<String>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// Adds free text to the commit message body.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// A commit id (40 hex digits).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(String);

impl CommitId {
    pub(crate) fn from_oid(oid: git2::Oid) -> Self {
        Self(oid.to_string())
    }

    /// The full hex id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits.
    pub fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({})", self.short())
    }
}

/// Which side of a promotion no longer holds the expected values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The source moved since the decision (for example, an approved version was replaced).
    Source,
    /// The target changed since the decision (for example, a person pinned it by hand).
    Target,
}

/// The commit that last changed a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeInfo {
    /// The commit.
    pub commit: CommitId,
    /// Its author's name.
    pub author: String,
    /// Its subject line.
    pub summary: String,
}

/// Commits that changed a value, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeLog {
    /// The commits.
    pub changes: Vec<ChangeInfo>,
    /// Whether the list reaches back to the change from the earlier value.
    pub complete: bool,
}

/// The values no longer match what the decision was made on; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Which side changed.
    pub side: Side,
    /// The file that changed.
    pub file: String,
    /// The first field that differs.
    pub field: String,
    /// The value the decision was made on.
    pub expected: String,
    /// The value on the branch now.
    pub found: String,
    /// The branch tip that was read.
    pub tip: CommitId,
    /// The commit that last changed the field, when found within the scanned history.
    pub changed_by: Option<ChangeInfo>,
}

/// A promotion that was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The new commit on the branch.
    pub commit: CommitId,
    /// Its parent, the tip it was built on.
    pub parent: CommitId,
    /// The target's values before.
    pub from: Vec<String>,
    /// The target's values now.
    pub to: Vec<String>,
    /// How many promotions share this commit (1 when not batched).
    pub batch_size: usize,
    /// How many push attempts it took.
    pub attempts: u32,
}

/// What came of a promotion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The target already holds the source values; nothing was written.
    InSync {
        /// The branch tip that was read.
        commit: CommitId,
        /// The values both sides hold.
        values: Vec<String>,
    },
    /// A commit with the edits was pushed.
    Committed(Committed),
    /// A value changed since the decision; nothing was written.
    Conflict(Conflict),
}

impl Outcome {
    /// A low-cardinality label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::InSync { .. } => "in_sync",
            Self::Committed(_) => "committed",
            Self::Conflict(_) => "conflict",
        }
    }
}
