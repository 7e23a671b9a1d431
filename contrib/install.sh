#!/usr/bin/env bash
# Install tcpplay, its manual pages and its shell completions together.
#   bash contrib/install.sh                  # into ~/.local (no root needed)
#   sudo bash contrib/install.sh --prefix /usr/local
#   bash contrib/install.sh --bin target/release/tcpplay   # an already built binary
# Afterwards: `tcpplay --help`, `man tcpplay-join` (add PREFIX/share/man to
# MANPATH if your system does not look there), and Tab after `tcpplay ` in
# bash, zsh (PREFIX/share/zsh/site-functions on fpath) or fish.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="$HOME/.local"
bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [ -n "$bin" ]; then
  install -Dm755 "$bin" "$prefix/bin/tcpplay"
else
  cargo install --locked --path . --root "$prefix"
fi
install -Dm644 -t "$prefix/share/man/man1" man/*.1
install -Dm644 completions/tcpplay.bash "$prefix/share/bash-completion/completions/tcpplay"
install -Dm644 completions/_tcpplay "$prefix/share/zsh/site-functions/_tcpplay"
install -Dm644 completions/tcpplay.fish "$prefix/share/fish/vendor_completions.d/tcpplay.fish"
echo "installed tcpplay $("$prefix/bin/tcpplay" --version | cut -d' ' -f2) into $prefix:"
echo "  $prefix/bin/tcpplay"
echo "  $prefix/share/man/man1/tcpplay*.1"
echo "  completions for bash, zsh and fish under $prefix/share"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "add $prefix/bin to your PATH" ;;
esac
