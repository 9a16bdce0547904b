//! The command line's commands and their arguments (clap derive): what each takes, its
//! help and examples, its exit codes.

use clap::{Args, Subcommand};
use std::path::PathBuf;

pub use super::args_journal::{Approve, Resume, Unblock};

/// `--journal`, for every command that reads or writes the journal.
#[derive(Debug, Args)]
pub struct JournalArg {
    /// Where the journal of deployment steps is kept: a directory, or s3://bucket/prefix.
    #[arg(long, env = "AMAGENT_JOURNAL", default_value = ".amagent/journal")]
    pub journal: String,
}

/// `--sim`, for every command that talks to AWS.
#[derive(Debug, Args)]
pub struct SimArg {
    /// Run against the in-process AWS simulator with this scenario instead of AWS.
    #[arg(long, value_name = "SCENARIO")]
    pub sim: Option<String>,
}

/// `--cache`, for every command that checks out sources.
#[derive(Debug, Args)]
pub struct CacheArg {
    /// Cache for mirrors and source checkouts (default: $AMAGENT_CACHE or ~/.cache/amagent).
    #[arg(long, env = "AMAGENT_CACHE")]
    pub cache: Option<PathBuf>,
}

/// `--force`, for every command that changes AWS outside the agent.
#[derive(Debug, Args)]
pub struct ForceArg {
    /// Act even while an agent holds the lease on an S3 journal (an emergency: journalled).
    #[arg(long)]
    pub force: bool,
}

/// `--region`, for every command that talks to AWS in an environment's account.
#[derive(Debug, Args)]
pub struct RegionArg {
    /// Override the region from the spec.
    #[arg(long)]
    pub region: Option<String>,
}

/// `--repo`: where the environments repo checkout is, for commands that read it. `--dir`, its
/// old name, still works.
#[derive(Debug, Args)]
pub struct DirArg {
    /// The environments repo checkout (the directory holding environments/ and pipelines/).
    #[arg(long = "repo", alias = "dir", value_name = "PATH", default_value = ".")]
    pub dir: PathBuf,
}

/// `--repo` and `--branch`: the environments repo the agent watches or promotes in.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The environments repo: https or ssh URL, or a local path.
    #[arg(long, env = "AMAGENT_REPO")]
    pub repo: String,
    /// The branch whose head is applied.
    #[arg(long, env = "AMAGENT_BRANCH", default_value = "main")]
    pub branch: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The product end to end in six acts, on the simulator (no AWS account, no GitHub): a
    /// merged PR deploys staging, a crash-looping release is rolled back, a tag promotes
    /// staging's digests to production, `rollback` returns production to the last release,
    /// a release's database migration runs as a one-off task before it deploys, and a tag
    /// waits for an approver's `/amagent approve` before it reaches production.
    #[command(
        after_help = "Needs buildah (or podman) and docker-registry (Debian packages);\n\
        scripts/demo installs them. Exit codes: 0 every act did what it should, 1 an act did not,\n\
        2 a tool is missing."
    )]
    Demo(Demo),
    /// Check environments/*.yaml and pipelines/*.yaml; print every problem as file:line:col.
    #[command(
        after_help = "Exit codes: 0 valid, 1 problems found, 2 no environments/ there, 4 directory missing or\n\
        unreadable."
    )]
    Validate(Validate),
    /// Show what a change to the environments repo would do: per environment and service, the
    /// stages to run (build, snapshot, deploy, lifecycle) and why.
    #[command(
        after_help = "Exit codes: 0 planned, 2 a revision's configuration is invalid, \
        3 repository or revision not found."
    )]
    Plan(Plan),
    /// Deploy one service: RDS snapshot if the policy asks, a rolling ECS update gated on the
    /// new tasks' target health, automatic rollback to the last verified revision, then ECR
    /// lifecycle.
    #[command(after_help = "Examples:\n  \
        amagent deploy --env staging --service api --image v1.4.0 --sim healthy\n  \
        amagent deploy --env staging --service api --image v1.4.0 --sim crash --output json\n\n\
        Scenarios (--sim): healthy, crash, unhealthy-during-bake, slow-start, timeout, throttled,\n\
        access-denied, snapshot-fails, migration-fails, container-unhealthy, slow-warm-up, or a\n\
        fault-script file\n\
        (docs/operations.md).\n\n\
        Exit codes: 0 deployed and verified, 1 deploy failed (the output says whether it was\n\
        rolled back), 2 usage or configuration error, 3 AWS refused (access denied, not found).")]
    Deploy(Deploy),
    /// Build the service's image from its source ref and push it to ECR (skipping what the
    /// registry has); prints the image reference with its digest. No deploy.
    #[command(
        after_help = "With --sim, the simulated ECR hands out the registry named by\n\
        AMAGENT_SIM_REGISTRY (http://user:password@127.0.0.1:PORT).\n\n\
        Exit codes: 0 pushed (or already there), 1 build or push failed, 2 usage, 3 refused\n\
        (registry credentials, source repository)."
    )]
    Build(Build),
    /// Apply the environment's ECR lifecycle rules, never expiring an image a service runs or
    /// would roll back to; prints the equivalent standing ECR policy.
    Lifecycle(Lifecycle),
    /// Check that the AWS account matches the spec: credentials, cluster, services, task
    /// definition families, target groups, ECR repositories, RDS instance, SSM parameters.
    #[command(
        after_help = "Uses the standard AWS credential chain; AWS_ENDPOINT_URL (and the\n\
        per-service variants) are honoured. Exit codes: 0 all ✓, 1 some ✗ (each with its fix),\n\
        2 usage or configuration error, 3 no AWS credentials found."
    )]
    Doctor(Doctor),
    /// The agent: watch the environments repo and apply each merge — build, snapshot, gated
    /// rolling deploys with automatic rollback, lifecycle — reporting to the pull requests.
    #[command(after_help = "Examples:\n  \
        amagent run --repo https://github.com/acme/environments.git --listen 0.0.0.0:8080\n  \
        amagent run --repo ./envrepo --sim healthy --poll-interval 5\n  \
        amagent run --repo ./envrepo --sim healthy --once     one look, then exit\n\n\
        On first sight of a repository the agent adopts the branch head as applied and deploys\n\
        nothing; each later commit is planned from the last one applied (the journal keeps it).\n\
        Environments with `promotion` change only when a promotion tag is pushed.\n\n\
        Environment: GITHUB_TOKEN, or AMAGENT_GITHUB_APP_ID + AMAGENT_GITHUB_APP_PRIVATE_KEY(_FILE),\n\
        for pull-request comments and commit statuses (else the console); AMAGENT_WEBHOOK_SECRET\n\
        for --listen; AMAGENT_GIT_TOKEN / AMAGENT_GIT_SSH_KEY for private repositories.\n\n\
        Exit codes: 0 stopped cleanly (--once: applied or nothing to do), 1 --once: a deploy\n\
        failed, 2 usage or invalid configuration, 3 repository refused, 4 cannot listen.")]
    Run(Run),
    /// Promote by tag: create the semver tag on the environments repo, push it, and apply it —
    /// every environment whose `promotion.tagPattern` it matches receives exactly the image
    /// digests its source environment verified at that commit (no rebuild).
    #[command(after_help = "Examples:\n  \
        amagent promote --repo ./envrepo --tag v1.4.0 --sim healthy\n  \
        amagent promote --repo URL --tag v1.3.9 --allow-downgrade     back to an older release\n\n\
        The agent does the same when someone pushes the tag (amagent run). A commit the source\n\
        environment never verified is refused, as is a tag not newer than the one running.\n\n\
        Exit codes: 0 promoted (or nothing to do), 1 the deploy failed (rolled back), 2 usage,\n\
        3 repository refused (tag exists, push rejected).")]
    Promote(Promote),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    #[command(after_help = "Examples:\n  \
        amagent completions bash > /etc/bash_completion.d/amagent\n  \
        amagent completions zsh > \"${fpath[1]}/_amagent\"\n  \
        amagent completions fish > ~/.config/fish/completions/amagent.fish")]
    Completions(Completions),
    /// Print the JSON Schema of environments/*.yaml or pipelines/*.yaml (docs/schema/ has
    /// them; the examples' `# yaml-language-server: $schema=` line points editors there).
    Schema(Schema),
    /// Check a local journal for lines that cannot be read back, or move them aside.
    Journal(super::journal_cmd::JournalArgs),
    /// Adopt services that already run: write environments/NAME.yaml from the live services.
    Init(super::init_cmd::InitArgs),
    /// What the journal recorded: runs, deploys, outcomes, rollbacks.
    #[command(after_help = "Examples:\n  \
        amagent history --env staging --service api --limit 5\n  \
        amagent history --env staging --outcome failed --since 2026-11-01\n  \
        amagent --output json history --since 2026-11-25T09:00:00Z")]
    History(History),
    /// Return services to a revision this agent verified before — no rebuild — through the
    /// same health gate as a deploy, then pin them so the agent does not deploy the same spec
    /// over them again (until `amagent resume` or a change of the service in Git).
    #[command(after_help = "Examples:\n  \
        amagent rollback --env staging --service api --reason \"500s on /orders\"\n  \
        amagent rollback --env staging --service api --steps 2\n  \
        amagent rollback --env staging --service api --to aussie-markets-api-task:41\n  \
        amagent rollback --env staging                 every service of the environment\n\n\
        Default: the verified revision before the one running now. --to takes a task definition\n\
        (family:revision or ARN) or an image digest that a verified deploy used.\n\n\
        Exit codes: 0 rolled back and verified healthy, 1 the rollback failed the gate (the output\n\
        says what runs now), 2 usage (e.g. no such verified revision: the verified ones are\n\
        listed), 3 AWS refused, 4 journal unreadable.")]
    Rollback(Rollback),
    /// Unpin services pinned by `amagent rollback`: the agent deploys them again on the next
    /// change.
    Resume(Resume),
    /// Clear a known-bad image (it failed the health gate, or was rolled back from with a
    /// reason) so that deploys and promotions take it again. Journalled with who did it.
    Unblock(Unblock),
    /// Approve (or --reject) a promotion waiting for approval (`promotion.approval`): the
    /// agent promotes the tag at its next look. Journalled with who; for that tag only.
    Approve(Approve),
    /// Field by field, what Git renders versus what runs: image digest, cpu, memory, env
    /// values, secret names, desired count, deployment settings, target group. `-` lines are
    /// what runs, `+` lines what Git would apply. Secret values are never read.
    Diff(Diff),
    /// Per service: the task definition running now and its image digest (from ECS), the
    /// commit and tags it came from, since when, the last outcome, and whether it is pinned.
    Status(Status),
}

#[derive(Debug, Args)]
pub struct Demo {
    /// Keep the repositories, journal and cache here instead of a temporary directory.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Validate {
    /// The environments repo checkout (the directory holding environments/ and pipelines/),
    /// or its environments/ directory itself.
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// The same as --repo, as the first argument (`amagent validate path/to/envrepo`).
    #[arg(hide = true, conflicts_with = "repo")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Plan {
    /// The revision to compare from (commit, branch, tag, HEAD~3). Default: the parent of
    /// --to (nothing, if --to is the first commit).
    #[arg(long)]
    pub from: Option<String>,
    /// The revision to compare to.
    #[arg(long, default_value = "HEAD")]
    pub to: String,
    /// The environments repository (work tree or bare).
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// Exit 1 when the change plans anything, 0 when it plans nothing (errors: 2 and above),
    /// as `git diff --exit-code`; for CI checks.
    #[arg(long)]
    pub exit_code: bool,
}

#[derive(Debug, Args)]
pub struct Deploy {
    /// The environment: the one named in environments/<ENV>.yaml.
    #[arg(long)]
    pub env: String,
    /// The service: a name under the environment\'s `services`.
    #[arg(long)]
    pub service: String,
    /// What to deploy: a tag or digest in the service's ECR repository, or a full image
    /// reference. Without it, the spec's source ref is built and pushed first (skipped when
    /// the registry already has that commit). Deploys always pin the digest.
    #[arg(long)]
    pub image: Option<String>,
    /// Deploy an image known to be bad for this service (it failed the health gate, or was
    /// rolled back from with a reason) all the same; `amagent unblock` clears it for good.
    #[arg(long)]
    pub allow_bad: bool,
    #[command(flatten)]
    pub cache: CacheArg,
    #[command(flatten)]
    pub sim: SimArg,
    #[command(flatten)]
    pub region: RegionArg,
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub journal: JournalArg,
    #[command(flatten)]
    pub force: ForceArg,
}

#[derive(Debug, Args)]
pub struct Build {
    /// The environment: the one named in environments/<ENV>.yaml.
    #[arg(long)]
    pub env: String,
    /// The service: a name under the environment\'s `services`.
    #[arg(long)]
    pub service: String,
    #[command(flatten)]
    pub sim: SimArg,
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub cache: CacheArg,
}

#[derive(Debug, Args)]
pub struct Lifecycle {
    /// The environment: the one named in environments/<ENV>.yaml.
    #[arg(long)]
    pub env: String,
    /// Show what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub sim: SimArg,
    #[command(flatten)]
    pub region: RegionArg,
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub journal: JournalArg,
    #[command(flatten)]
    pub force: ForceArg,
}

#[derive(Debug, Args)]
pub struct Doctor {
    /// The environment: the one named in environments/<ENV>.yaml.
    #[arg(long)]
    pub env: String,
    #[command(flatten)]
    pub region: RegionArg,
    #[command(flatten)]
    pub sim: SimArg,
    #[command(flatten)]
    pub dir: DirArg,
}

#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub sim: SimArg,
    /// Serve POST /webhooks/github, GET /healthz and GET /metrics on this address.
    #[arg(long, env = "AMAGENT_LISTEN", value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Seconds between looks at the repository (webhooks wake the agent at once).
    #[arg(
        long,
        env = "AMAGENT_POLL_INTERVAL",
        default_value = "30",
        value_name = "SECONDS"
    )]
    pub poll_interval: u64,
    /// Look once, apply what is new, print a summary and exit.
    #[arg(long)]
    pub once: bool,
    /// After SIGTERM, seconds a running deploy may take to finish before it is recorded as
    /// interrupted (resumed at the next start).
    #[arg(
        long,
        env = "AMAGENT_SHUTDOWN_GRACE",
        default_value = "90",
        value_name = "SECONDS"
    )]
    pub shutdown_grace: u64,
    /// Where the bare mirror of the repository is kept (default: under the cache).
    #[arg(long, env = "AMAGENT_MIRROR")]
    pub mirror: Option<PathBuf>,
    #[command(flatten)]
    pub cache: CacheArg,
    #[command(flatten)]
    pub journal: JournalArg,
    #[command(flatten)]
    pub region: RegionArg,
    /// The image builder: buildah or podman (default: the first found).
    #[arg(long, env = "AMAGENT_BUILDER")]
    pub builder: Option<String>,
    /// How many CodeBuild builds of one merge run at once (pipelines with `builder:
    /// codebuild`); local builds run one at a time, as they share this host's CPU.
    #[arg(
        long,
        env = "AMAGENT_PARALLEL_BUILDS",
        default_value = "4",
        value_name = "N"
    )]
    pub parallel_builds: usize,
    /// With an s3:// journal, seconds the active agent's lease lasts unless renewed (every
    /// third of it); a standby takes over once it lapses.
    #[arg(
        long,
        env = "AMAGENT_LEASE_TTL",
        default_value = "60",
        value_name = "SECONDS"
    )]
    pub lease_ttl: u64,
}

#[derive(Debug, Args)]
pub struct Promote {
    /// The tag to create, e.g. v1.4.0 (must match the target's promotion.tagPattern).
    #[arg(long)]
    pub tag: String,
    /// The commit to tag (default: the newest commit on the branch that the source
    /// environment verified; none: refused before any tag is pushed).
    #[arg(long)]
    pub commit: Option<String>,
    /// Allow a tag older than the version running (a deliberate step back).
    #[arg(long)]
    pub allow_downgrade: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub sim: SimArg,
    #[command(flatten)]
    pub cache: CacheArg,
    #[command(flatten)]
    pub journal: JournalArg,
    #[command(flatten)]
    pub region: RegionArg,
}

#[derive(Debug, Args)]
pub struct History {
    /// Only this environment (default: all).
    #[arg(long)]
    pub env: Option<String>,
    /// Only this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only runs with a deploy or rollback of this outcome: succeeded or failed.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only runs started at or after this time: RFC 3339 (2026-11-25T09:00:00Z) or a date
    /// (2026-11-25, midnight UTC).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Show at most this many runs (newest first).
    #[arg(long, default_value = "20")]
    pub limit: usize,
    /// The region of an s3:// journal's bucket (not the spec's region: history reads no spec).
    #[arg(
        long = "journal-region",
        alias = "region",
        env = "AWS_REGION",
        value_name = "REGION"
    )]
    pub journal_region: Option<String>,
    #[command(flatten)]
    pub journal: JournalArg,
    /// Read the journal of simulated (--sim) runs instead of the real one.
    #[arg(long)]
    pub simulated: bool,
    #[command(flatten)]
    pub dir: DirArg,
}

#[derive(Debug, Args)]
pub struct Rollback {
    /// The environment: the one named in environments/<ENV>.yaml.
    #[arg(long)]
    pub env: String,
    /// One service (default: every service of the environment).
    #[arg(long)]
    pub service: Option<String>,
    /// The revision to return to: family:revision, task definition ARN, or image digest.
    #[arg(long, conflicts_with = "steps")]
    pub to: Option<String>,
    /// How many verified revisions back from the one running now.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Option<u64>,
    /// Why (journalled, shown by `history` and `status`).
    #[arg(long)]
    pub reason: Option<String>,
    /// Who (default: $USER).
    #[arg(long)]
    pub actor: Option<String>,
    /// Then open a pull request in the environments repo ($AMAGENT_REPO) that puts the
    /// rolled-back services' entries back to the spec that deployed what runs now, so Git
    /// matches the account. Merging it releases the pin and deploys nothing. Needs GitHub
    /// credentials as for `amagent run` (GITHUB_TOKEN or an App) and push access.
    #[arg(long)]
    pub revert_pr: bool,
    /// The branch the revert pull request merges into (the one the agent watches).
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    pub base_branch: String,
    #[command(flatten)]
    pub cache: CacheArg,
    #[command(flatten)]
    pub sim: SimArg,
    #[command(flatten)]
    pub region: RegionArg,
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub journal: JournalArg,
    #[command(flatten)]
    pub force: ForceArg,
}

#[derive(Debug, Args)]
pub struct Diff {
    /// The environment to compare (environments/<ENV>.yaml).
    #[arg(long)]
    pub env: String,
    /// Only this service (repeatable; default: all of the environment's).
    #[arg(long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Exit 1 when anything differs, 0 when nothing does (errors: 2 and above), as
    /// `git diff --exit-code`.
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub sim: SimArg,
    #[command(flatten)]
    pub region: RegionArg,
    #[command(flatten)]
    pub dir: DirArg,
}

#[derive(Debug, Args)]
pub struct Status {
    /// One environment (default: all).
    #[arg(long)]
    pub env: Option<String>,
    #[command(flatten)]
    pub sim: SimArg,
    #[command(flatten)]
    pub region: RegionArg,
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub journal: JournalArg,
}

#[derive(Debug, Args)]
pub struct Completions {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct Schema {
    /// Which file's schema.
    #[arg(value_enum)]
    pub kind: super::schema_cmd::SchemaKind,
}

/// `--since`: RFC 3339, or a plain date (midnight UTC).
fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| {
            format!("`{text}`: expected RFC 3339 (2026-11-25T09:00:00Z) or a date (2026-11-25)")
        })
}
