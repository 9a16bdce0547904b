# Shared by scripts/test and scripts/demo. Installs what a fresh Debian machine lacks, loudly.

# Keep the (large) build cache outside the clone so fresh clones and CI reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/amagent-target}"

die() {
  echo "error: $*" >&2
  exit 1
}

# apt_install PKG... : install Debian packages, or fail saying what to install.
apt_install() {
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    die "missing Debian packages: $*; install them with: apt-get install -y $*"
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing Debian packages: $*" >&2
  $sudo apt-get update -qq >/dev/null || die "apt-get update failed; install by hand: $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null \
    || die "apt-get install $* failed"
}

# What building amagent needs: a Rust toolchain with rustfmt and clippy, a C compiler,
# pkg-config and OpenSSL headers (git2's https transport).
ensure_build_deps() {
  command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
  local missing=()
  command -v cc >/dev/null || missing+=(gcc libc6-dev)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  if ! pkg-config --exists openssl 2>/dev/null; then missing+=(libssl-dev); fi
  command -v git >/dev/null || missing+=(git)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

ensure_lint_tools() {
  cargo fmt --version >/dev/null 2>&1 || die "rustfmt missing: rustup component add rustfmt"
  cargo clippy --version >/dev/null 2>&1 || die "clippy missing: rustup component add clippy"
}

# moto (AWS wire-format fake) for the aws adapter tests, pinned, in a virtualenv kept outside
# the clone. Exports MOTO_SERVER (the moto_server executable) or fails loudly.
MOTO_VERSION="5.2.5"
ensure_moto() {
  local venv="${AMAGENT_VENV:-$HOME/.cache/amagent-venv}"
  if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    command -v python3 >/dev/null || apt_install python3 python3-venv
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; } \
      || die "cannot create a Python virtualenv at $venv"
    echo "installing moto[server]==$MOTO_VERSION into $venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" \
      || die "pip could not install moto[server]==$MOTO_VERSION (needed by the AWS wire tests)"
  fi
  export MOTO_SERVER="$venv/bin/moto_server"
}

# The image tests need a real registry and builder: Debian's docker-registry (CNCF
# distribution), buildah (vfs storage, chroot isolation: no daemon), htpasswd for basic auth, and
# skopeo as the reference pusher for the push benchmark.
ensure_image_tools() {
  local missing=()
  [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
  command -v buildah >/dev/null || missing+=(buildah)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  command -v skopeo >/dev/null || missing+=(skopeo)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
  [ -x /usr/bin/docker-registry ] && command -v buildah >/dev/null && command -v htpasswd >/dev/null \
    || die "docker-registry, buildah and htpasswd are needed by the image tests"
}

# The git transport tests start real servers: git's http-backend behind lighttpd with TLS (a CA
# made by openssl per run) and basic auth (htpasswd), and OpenSSH's sshd.
ensure_git_servers() {
  local missing=()
  [ -x /usr/sbin/lighttpd ] || missing+=(lighttpd)
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  [ -x /usr/lib/git-core/git-http-backend ] || missing+=(git)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
  [ -x /usr/sbin/lighttpd ] && [ -x /usr/sbin/sshd ] && [ -x /usr/lib/git-core/git-http-backend ] \
    || die "lighttpd, sshd and git-http-backend are needed by the git transport tests"
}

# The status page's browser tests (tests/ui_browser.rs) drive Debian's headless Chromium over
# the DevTools protocol. Exports AMAGENT_CHROMIUM (its path) or fails loudly.
ensure_chromium() {
  command -v chromium >/dev/null || apt_install chromium
  command -v chromium >/dev/null || die "chromium is needed by the status page's browser tests"
  AMAGENT_CHROMIUM="$(command -v chromium)"
  export AMAGENT_CHROMIUM
}
