//! Command-line arguments.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, ValueEnum};
use spiro_client::Token;
use spiro_scanner::ScannerSpec;

use crate::credentials;
use crate::error::CliError;
use crate::generate::Generate;

const AFTER_HELP: &str = "\
Examples:
  Deploy the current project's _salt directory and highstate the affected minions:
    SPIRO_TOKEN=... spiro-deploy myproject production

  Add build artifacts and the source of the HEAD commit:
    spiro-deploy --artifact dist/app.tar.gz --include-source=git myproject staging

  Build the bundle only, without contacting any server:
    spiro-deploy --include-source --output bundle.tar myproject staging

Environment:
  SPIRO_URL          the server, as --server
  SPIRO_TOKEN        the deploy token, as --token
  SPIRO_TOKEN_FILE   a file holding the deploy token, as --token-file
  SPIRO_SSL_CERT     a CA or certificate (PEM) to trust, as --ssl-cert (also with --check)
  SOURCE_DATE_EPOCH  the latest modification time recorded in the bundle (reproducible builds)
  SPIRO_PLUGIN_PATH  directories searched first for scanner plugins (`:`-separated), before
                     $XDG_DATA_HOME/spiro-deploy/plugins (~/.local/share/spiro-deploy/plugins)
  XDG_CONFIG_HOME    where git's global attributes file is looked for (--include-source=git)
  HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY
                     the proxy to reach the server through, and the hosts reached directly
  NO_COLOR, CLICOLOR_FORCE, CLICOLOR, TERM
                     colour: none with NO_COLOR or TERM=dumb; forced with CLICOLOR_FORCE
  GITHUB_ACTIONS=true, GITHUB_STEP_SUMMARY
                     GitHub Actions log groups and annotations, and the job summary's file
  GITLAB_CI=true     GitLab CI collapsible sections

Exit status: 0 success, 2 usage, 3 bundle, 4 connection/TLS, 5 auth (401/403),
6 server failure, 7 failed states, 8 unreported minions, stream cut short or --timeout run out,
130 interrupted (Ctrl-C).";

/// Build a SpiroFS deployment bundle, upload it to the Salt master, and follow the deploy live.
///
/// The bundle holds everything in ./_salt at its root, build artifacts under _artifacts/,
/// optionally the source under _source/, and .gitcommit (HEAD's hash and `git describe --all`)
/// when run inside a git repository.
#[derive(Parser)]
#[command(
    name = "spiro-deploy",
    version,
    after_help = AFTER_HELP,
    max_term_width = 100,
    // PROJECT and DEPLOYMENT are optional to clap only so that the listing and checking
    // modes can do without them; say how the tool is really used.
    override_usage = "spiro-deploy [OPTIONS] <PROJECT> <DEPLOYMENT>\n       \
                      spiro-deploy [OPTIONS] --output <FILE> | --list [PROJECT DEPLOYMENT]\n       \
                      spiro-deploy --check [PROJECT] | --list-scanners | --generate <KIND>"
)]
pub struct Args {
    /// The project to deploy to (the saltenv is <PROJECT>/<DEPLOYMENT>)
    #[arg(required_unless_present_any = ["list_scanners", "check", "output", "list", "generate"])]
    pub project: Option<String>,

    /// The deployment within the project, e.g. `production`
    #[arg(required_unless_present_any = ["list_scanners", "check", "output", "list", "generate"])]
    pub deployment: Option<String>,

    /// Add a file or directory under _artifacts/ (repeatable). `build/eggs` becomes
    /// `_artifacts/build/eggs`; an absolute path or one outside the working directory keeps
    /// only its file name
    #[arg(long, value_name = "PATH", help_heading = "Bundle")]
    pub artifact: Vec<PathBuf>,

    /// Add the source under _source/, found by METHOD: `git` (the HEAD commit, like
    /// `git archive HEAD`), `fs` or `filesystem` (every file here except _salt, VCS metadata and
    /// .spiroignore matches), or a plugin's name or path. No source path has a `_salt` component,
    /// whatever METHOD. Without METHOD: `git` inside a git repository, `fs` elsewhere.
    /// Options follow the name: `git,submodules,lfs=true` (a bare KEY means KEY=true);
    /// --list-scanners shows what each scanner takes.
    /// `--include-source METHOD` (with a space, as spiro-deploy 0.4
    /// takes it) works when METHOD names a built-in scanner, a plugin on the search path or a
    /// library file; any other next word is not taken, and stays PROJECT. Repeatable
    #[arg(
        long,
        value_name = "METHOD[,KEY=VALUE]...",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "",
        value_parser = clap::value_parser!(ScannerSpec),
        action = ArgAction::Append,
        help_heading = "Bundle"
    )]
    pub include_source: Vec<ScannerSpec>,

    /// Write the bundle to FILE (`-` for standard output) and exit without contacting a server.
    /// A regular FILE is replaced once the bundle is complete; a device or a FIFO is written to
    #[arg(long, short = 'o', value_name = "FILE", help_heading = "Bundle")]
    pub output: Option<PathBuf>,

    /// Print the names of the entries that would be bundled, one per line, and exit
    #[arg(long, conflicts_with = "output", help_heading = "Bundle")]
    pub list: bool,

    /// Bundle symlinks whose target is absolute or climbs out of the bundle (refused by
    /// default). Dangerous: the SpiroFS fileserver follows links, so a committed link such as
    /// `_salt/key -> /etc/salt/pki/master/master.pem` hands the master's private key to any
    /// minion that asks for it
    #[arg(long, help_heading = "Bundle")]
    pub allow_symlinks_out: bool,

    /// List the built-in scanners and every plugin found, and exit
    #[arg(long, help_heading = "Bundle")]
    pub list_scanners: bool,

    /// Deploy even without a _salt directory here (artifact-only deployments). The deployment
    /// is then replaced by a bundle holding no Salt states: its states are gone from the server
    #[arg(long, help_heading = "Deploy")]
    pub allow_no_salt: bool,

    /// Gzip the bundle on its way to the server (or into --output), at LEVEL 1 (fastest) to 9
    /// (smallest), 6 if not given. SpiroFS unpacks gzipped bundles as plain ones. Pays on a slow
    /// link (source trees shrink to a fraction); on a fast one it costs more time than it saves
    #[arg(
        long,
        value_name = "LEVEL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "6",
        value_parser = clap::value_parser!(u32).range(1..=9),
        help_heading = "Deploy"
    )]
    pub compress: Option<u32>,

    /// Ask the server to highstate the affected minions after deploying [default]
    #[arg(long, overrides_with = "no_highstate", help_heading = "Deploy")]
    pub highstate: bool,

    /// Deploy the bundle without running a highstate
    #[arg(long, overrides_with = "highstate", help_heading = "Deploy")]
    pub no_highstate: bool,

    /// The SpiroFS server
    #[arg(
        long,
        env = "SPIRO_URL",
        hide_env_values = true,
        default_value = "https://salt:4510/",
        value_name = "URL",
        help_heading = "Deploy"
    )]
    pub server: String,

    /// The deploy token from `salt-run spiro.issue_token` (prefer --token-file or SPIRO_TOKEN:
    /// command lines are visible to other users). Precedence: --token, --token-file,
    /// SPIRO_TOKEN, SPIRO_TOKEN_FILE
    #[arg(
        long,
        env = "SPIRO_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        help_heading = "Deploy"
    )]
    pub token: Option<Token>,

    /// Read the deploy token from FILE (one trailing newline is ignored); also
    /// SPIRO_TOKEN_FILE. Recommended in CI: the token shows in no command line or environment
    #[arg(long, value_name = "FILE", help_heading = "Deploy")]
    pub token_file: Option<PathBuf>,

    /// Trust this CA or certificate (PEM) for the server instead of the system's authorities
    #[arg(
        long,
        env = "SPIRO_SSL_CERT",
        hide_env_values = true,
        value_name = "FILE",
        help_heading = "Deploy"
    )]
    pub ssl_cert: Option<PathBuf>,

    /// Do not verify the server's certificate, and allow plain http:// URLs. Dangerous.
    /// Conflicts with --ssl-cert (and SPIRO_SSL_CERT)
    #[arg(long, help_heading = "Deploy")]
    pub insecure: bool,

    /// Seconds to wait for the server to accept the connection
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 20.0,
        help_heading = "Deploy"
    )]
    pub connect_timeout: f64,

    /// Seconds the server may take to answer the token check (GET /), connecting included
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30.0,
        help_heading = "Deploy"
    )]
    pub check_timeout: f64,

    /// Seconds the upload may make no progress (the server stopped reading the bundle)
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 60.0,
        help_heading = "Deploy"
    )]
    pub stall_timeout: f64,

    /// Seconds to wait for the server's answer once the whole bundle is sent. The deploy's
    /// events have no timeout (a highstate may be silent for an hour)
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 300.0,
        help_heading = "Deploy"
    )]
    pub response_timeout: f64,

    /// Only check that the server accepts the token (and covers PROJECT, if given), then exit
    #[arg(long, help_heading = "Deploy")]
    pub check: bool,

    /// How to show the deploy: `human` (readable, coloured on a terminal) or `json` (one JSON
    /// object per event per line, then a `spiro-deploy-summary` line)
    #[arg(long, value_enum, default_value_t = Format::Human, value_name = "FORMAT", help_heading = "Deploy")]
    pub format: Format,

    /// Print the man page (`man`) or a shell's completion script (`complete-bash`,
    /// `complete-zsh`, `complete-fish`, `complete-powershell`, `complete-elvish`), and exit
    #[arg(long, value_enum, value_name = "KIND", hide_possible_values = true)]
    pub generate: Option<Generate>,

    /// The longest the deploy may take after the upload, e.g. `90s`, `30m`, `1h`. When it runs
    /// out, the minions that have not reported are listed and the exit status is 8 (the
    /// highstate may still be running on the master). No limit by default
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, help_heading = "Deploy")]
    pub timeout: Option<Duration>,

    /// Also write the deploy as a JUnit XML report to FILE (one test suite per minion, one test
    /// case per state), whenever the deploy reached the server's event stream, failing or not
    #[arg(long, value_name = "FILE", help_heading = "Report")]
    pub junit: Option<PathBuf>,

    /// How states are shown, as Salt's `--state-output`: `full` (every field), `terse` (one line
    /// per state), `mixed` (terse, full for failures), `changes` (full for changes and failures,
    /// terse for the rest)
    #[arg(long, value_enum, default_value_t = StateOutput::Full, value_name = "MODE", help_heading = "Report")]
    pub state_output: StateOutput,

    /// As Salt's `--state-verbose`: `false` hides the states that succeeded without changes
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        action = ArgAction::Set,
        help_heading = "Report"
    )]
    pub state_verbose: bool,

    /// Where the token came from, for error messages that must not show the token itself.
    #[arg(skip)]
    pub token_source: TokenSource,
}

/// How the deploy is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable blocks per minion, in the spirit of Salt's highstate outputter.
    Human,
    /// One JSON object per event per line.
    Json,
}

/// How states are shown in the human form: Salt's `--state-output` modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum StateOutput {
    /// Every field of every state.
    #[default]
    Full,
    /// One line per state.
    Terse,
    /// One line per state, every field for failed ones.
    Mixed,
    /// Every field for states that changed something or failed, one line for the rest.
    Changes,
}

/// Parses `--timeout`: a duration with its unit (`90s`, `30m`, `1h 30m`), more than zero.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|err| format!("{err} (give a number with a unit: 90s, 30m, 1h)"))?;
    if duration.is_zero() {
        return Err("the timeout must be longer than zero".to_owned());
    }
    Ok(duration)
}

/// Where the token came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenSource {
    /// No token was given.
    #[default]
    Missing,
    /// `--token`.
    Flag,
    /// The `SPIRO_TOKEN` environment variable.
    Env,
    /// The file named by `--token-file`.
    FileFlag,
    /// The file named by the `SPIRO_TOKEN_FILE` environment variable.
    FileEnv,
}

impl TokenSource {
    /// The setting to correct: `--token` when it was given, else `SPIRO_TOKEN`.
    pub fn setting(self) -> &'static str {
        match self {
            TokenSource::Flag => "--token",
            TokenSource::Env | TokenSource::Missing => "SPIRO_TOKEN",
            TokenSource::FileFlag => "the file given with --token-file",
            TokenSource::FileEnv => "the file named by SPIRO_TOKEN_FILE",
        }
    }

    /// How to name the source in a message.
    pub fn describe(self) -> &'static str {
        match self {
            TokenSource::Missing => {
                "no token (set SPIRO_TOKEN or SPIRO_TOKEN_FILE, or pass --token-file)"
            }
            TokenSource::Flag => "the token given with --token",
            TokenSource::Env => "the token in SPIRO_TOKEN",
            TokenSource::FileFlag => "the token in the file given with --token-file",
            TokenSource::FileEnv => "the token in the file named by SPIRO_TOKEN_FILE",
        }
    }
}

impl Args {
    /// Parses the process's arguments, exiting with status 2 on a usage error.
    pub fn parse_from_env() -> Args {
        let argv = join_include_source(std::env::args_os(), crate::scanners::names_a_scanner);
        let matches = Args::command().get_matches_from(argv);
        let mut args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        args.token_source = match matches.value_source("token") {
            Some(ValueSource::CommandLine) => TokenSource::Flag,
            Some(ValueSource::EnvVariable) => TokenSource::Env,
            _ => TokenSource::Missing,
        };
        if args.token.as_ref().is_some_and(|t| t.expose().is_empty()) {
            args.token = None;
            args.token_source = TokenSource::Missing;
        }
        // Checked here, not by clap, to name SPIRO_SSL_CERT when the certificate came from it.
        if args.insecure && args.ssl_cert.is_some() {
            let given = match matches.value_source("ssl_cert") {
                Some(ValueSource::EnvVariable) => "SPIRO_SSL_CERT",
                _ => "--ssl-cert",
            };
            Args::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "--insecure and {given} cannot be used together: --insecure skips the \
                         verification that {given} sets up; drop one"
                    ),
                )
                .exit();
        }
        // Checked here, not by clap: clap would count SPIRO_TOKEN as a conflict too.
        if args.token_source == TokenSource::Flag && args.token_file.is_some() {
            Args::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--token and --token-file cannot be used together: give the token one way",
                )
                .exit();
        }
        // --token-file beats SPIRO_TOKEN, which beats SPIRO_TOKEN_FILE (read by `read_token_file`).
        if args.token_file.is_some() && args.token_source != TokenSource::Flag {
            args.token = None;
            args.token_source = TokenSource::FileFlag;
        } else if args.token.is_none() {
            args.token_file = std::env::var_os("SPIRO_TOKEN_FILE")
                .filter(|path| !path.is_empty())
                .map(PathBuf::from);
            if args.token_file.is_some() {
                args.token_source = TokenSource::FileEnv;
            }
        }
        args
    }

    /// Reads the token from the file chosen by `parse_from_env`, for the modes that talk to a
    /// server: bundling to a file or a listing needs no token, nor a readable token file.
    pub fn read_token_file(&mut self) -> Result<(), CliError> {
        let talks_to_server = !(self.list_scanners || self.list || self.output.is_some());
        if let (Some(path), true) = (&self.token_file, talks_to_server) {
            let setting = match self.token_source {
                TokenSource::FileEnv => "SPIRO_TOKEN_FILE",
                _ => "--token-file",
            };
            self.token = Some(credentials::read_token_file(path, setting)?);
        }
        Ok(())
    }

    /// The gzip compression `--compress` asks for, if any.
    pub fn compression(&self) -> Option<spiro_client::Gzip> {
        self.compress.and_then(spiro_client::Gzip::new)
    }

    /// Whether the server should highstate (the default unless `--no-highstate`).
    pub fn highstate(&self) -> bool {
        !self.no_highstate
    }
}

/// The `--include-source` flag, whose value clap takes only after `=`.
const INCLUDE_SOURCE: &str = "--include-source";

/// Rewrites `--include-source METHOD` (two words) to `--include-source=METHOD` when
/// `names_a_scanner(METHOD)`, as spiro-deploy 0.4's argparse (`nargs='?'`) takes it. clap cannot
/// do this alone: an optional value given with a space would swallow the project name
/// (`--include-source myproject staging`), so the flag's value needs `=`, and only a word that
/// really names a scanner is taken here. Nothing after `--` is touched.
fn join_include_source(
    argv: impl IntoIterator<Item = OsString>,
    names_a_scanner: impl Fn(&str) -> bool,
) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut argv = argv.into_iter().peekable();
    while let Some(arg) = argv.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(argv);
            break;
        }
        if arg == INCLUDE_SOURCE {
            let method = argv
                .peek()
                .and_then(|next| next.to_str())
                .filter(|next| {
                    // `git,submodules`: the name is what comes before the options.
                    let name = next.split(',').next().unwrap_or_default();
                    !next.starts_with('-') && names_a_scanner(name)
                })
                .map(str::to_owned);
            if let Some(method) = method {
                argv.next();
                out.push(format!("{INCLUDE_SOURCE}={method}").into());
                continue;
            }
        }
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(argv: &[&str]) -> Vec<String> {
        let names_a_scanner = |word: &str| matches!(word, "fs" | "git" | "./libx.so");
        join_include_source(argv.iter().map(OsString::from), names_a_scanner)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn include_source_takes_a_scanner_name_after_a_space() {
        assert_eq!(
            joined(&["s", "--include-source", "fs", "p", "d"]),
            ["s", "--include-source=fs", "p", "d"]
        );
        assert_eq!(
            joined(&["s", "--include-source", "git,lfs", "p", "d"]),
            ["s", "--include-source=git,lfs", "p", "d"]
        );
        assert_eq!(
            joined(&["s", "--include-source", "./libx.so", "--list"]),
            ["s", "--include-source=./libx.so", "--list"]
        );
        let args =
            Args::try_parse_from(joined(&["s", "--list", "--include-source", "git"])).unwrap();
        assert_eq!(args.include_source, [ScannerSpec::new("git")]);
        assert_eq!(args.project, None);
    }

    #[test]
    fn include_source_leaves_other_words_to_the_positionals() {
        let kept = ["s", "--include-source", "myproject", "staging"];
        assert_eq!(joined(&kept), kept);
        let kept = ["s", "--include-source", "--list", "fs"];
        assert_eq!(joined(&kept), kept);
        let kept = ["s", "--", "--include-source", "fs"];
        assert_eq!(joined(&kept), kept);
        let kept = ["s", "--include-source=git", "fs", "d"];
        assert_eq!(joined(&kept), kept);
    }

    #[test]
    fn clap_definition_is_valid() {
        Args::command().debug_assert();
    }

    #[test]
    fn include_source_without_value_means_auto() {
        let args = Args::try_parse_from([
            "spiro-deploy",
            "--include-source",
            "--include-source=fs",
            "p",
            "d",
        ])
        .unwrap();
        assert_eq!(
            args.include_source,
            [ScannerSpec::new(""), ScannerSpec::new("fs")]
        );
    }

    #[test]
    fn report_options() {
        let args = Args::try_parse_from([
            "spiro-deploy",
            "--timeout",
            "1h 30m",
            "--state-output=mixed",
            "--state-verbose=false",
            "p",
            "d",
        ])
        .unwrap();
        assert_eq!(args.timeout, Some(Duration::from_secs(5400)));
        assert_eq!(args.state_output, StateOutput::Mixed);
        assert!(!args.state_verbose);
        let args = Args::try_parse_from(["spiro-deploy", "p", "d"]).unwrap();
        assert_eq!(
            (args.timeout, args.state_output, args.state_verbose),
            (None, StateOutput::Full, true)
        );
        for bad in ["0s", "90", "soon"] {
            assert!(Args::try_parse_from(["spiro-deploy", "--timeout", bad, "p", "d"]).is_err());
        }
    }

    #[test]
    fn highstate_flags_override_each_other() {
        let args = Args::try_parse_from(["spiro-deploy", "--no-highstate", "p", "d"]).unwrap();
        assert!(!args.highstate());
        let args = Args::try_parse_from(["spiro-deploy", "p", "d"]).unwrap();
        assert!(args.highstate());
    }
}
