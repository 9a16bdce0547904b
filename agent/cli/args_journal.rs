//! Arguments of the commands that only decide in the journal: `approve`, `unblock`, `resume`.

use super::args::{DirArg, JournalArg};
use clap::Args;

#[derive(Debug, Args)]
pub struct Approve {
    /// The environment the tag promotes to.
    #[arg(long)]
    pub env: String,
    /// The tag, e.g. v1.5.0.
    #[arg(long)]
    pub tag: String,
    /// Reject instead: the tag will not promote.
    #[arg(long)]
    pub reject: bool,
    /// Why (journalled; said when the promotion is refused).
    #[arg(long)]
    pub reason: Option<String>,
    /// Who (default: $USER).
    #[arg(long)]
    pub actor: Option<String>,
    /// The region of an s3:// journal's bucket (default: the spec's).
    #[arg(long = "journal-region", value_name = "REGION")]
    pub journal_region: Option<String>,
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub journal: JournalArg,
    /// Decide in the journal of simulated (--sim) runs instead of the real one.
    #[arg(long)]
    pub simulated: bool,
}

#[derive(Debug, Args)]
pub struct Unblock {
    /// The environment: the one named in environments/<ENV>.yaml.
    #[arg(long)]
    pub env: String,
    /// The service the image is bad for.
    #[arg(long)]
    pub service: String,
    /// The image digest to clear, e.g. sha256:3f1c… (the refusal names it).
    #[arg(long)]
    pub digest: String,
    /// Who (default: $USER).
    #[arg(long)]
    pub actor: Option<String>,
    /// The region of an s3:// journal's bucket (default: the spec's).
    #[arg(long = "journal-region", value_name = "REGION")]
    pub journal_region: Option<String>,
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub journal: JournalArg,
    /// Clear it in the journal of simulated (--sim) runs instead of the real one.
    #[arg(long)]
    pub simulated: bool,
}

#[derive(Debug, Args)]
pub struct Resume {
    /// The environment: the one named in environments/<ENV>.yaml.
    #[arg(long)]
    pub env: String,
    /// One service (default: every pinned service of the environment).
    #[arg(long)]
    pub service: Option<String>,
    /// Who (default: $USER).
    #[arg(long)]
    pub actor: Option<String>,
    /// The region of an s3:// journal's bucket (default: the spec's).
    #[arg(long = "journal-region", alias = "region", value_name = "REGION")]
    pub journal_region: Option<String>,
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub journal: JournalArg,
    /// Unpin in the journal of simulated (--sim) runs instead of the real one.
    #[arg(long)]
    pub simulated: bool,
}
