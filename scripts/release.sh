#!/usr/bin/env bash
# Builds a Gatehouse release: static binaries for every supported platform, the module list
# of each (`go version -m`, what went into the binary), container image tarballs for the
# Linux ones, and SHA256SUMS over all of it. docs/release.md describes cutting a release.
#
#   scripts/release.sh [--version VERSION] [--out DIR] [--platforms "OS/ARCH ..."|host] [--no-image]
#
# VERSION defaults to `git describe --tags --always --dirty` (the tag itself on a tagged,
# clean commit). DIR defaults to dist/VERSION and must not exist or be empty. --platforms
# host builds only for the machine running the script (what the test suite does).
set -euo pipefail

platforms="linux/amd64 linux/arm64 darwin/arm64 windows/amd64"
version=""
out=""
image=1

die() { echo "release: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --version) [ $# -ge 2 ] || die "--version needs a value"; version="$2"; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a value"; out="$2"; shift 2 ;;
    --platforms) [ $# -ge 2 ] || die "--platforms needs a value"; platforms="$2"; shift 2 ;;
    --no-image) image=""; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# The facts the binary reports (internal/buildinfo), taken from git here because a build
# from a worktree, or with -buildvcs=false, carries no VCS stamp of its own.
revision="" time="" dirty=""
if git rev-parse --git-dir >/dev/null 2>&1; then
  revision="$(git rev-parse HEAD)"
  time="$(TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd HEAD)"
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then dirty=true; else dirty=false; fi
  [ -n "$version" ] || version="$(git describe --tags --always --dirty)"
fi
[ -n "$version" ] || die "--version is required outside a git checkout"
# The version names files, the image tag and the -X value: keep it to a tag's characters.
[[ "$version" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
  die "version \"$version\" may hold only letters, digits, '.', '_' and '-' (it becomes the image tag)"

[ "$platforms" = host ] && platforms="$(go env GOOS)/$(go env GOARCH)"
[ -n "$out" ] || out="dist/$version"
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  die "$out is not empty; remove it or pass another --out"
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

pkg=github.com/gatehouse-dev/gatehouse/internal/buildinfo
ldflags="-s -w -X $pkg.version=$version -X $pkg.revision=$revision -X $pkg.vcsTime=$time -X $pkg.dirty=$dirty"

built=()
for p in $platforms; do
  goos="${p%%/*}" goarch="${p#*/}"
  [[ "$p" =~ ^[a-z0-9]+/[a-z0-9]+$ ]] || die "platform \"$p\" is not OS/ARCH"
  bin="gatehouse_${version}_${goos}_${goarch}"
  [ "$goos" = windows ] && bin="$bin.exe"
  echo "release: $bin"
  # Static and reproducible: no cgo (the SQLite store is pure Go), no local paths, no VCS
  # lookup by the toolchain (the facts are set above).
  CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" \
    go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out/$bin" ./cmd/gatehouse
  go version -m "$out/$bin" > "$out/$bin.modules.txt"
  built+=("$bin" "$bin.modules.txt")
  if [ -n "$image" ] && [ "$goos" = linux ]; then
    echo "release: $bin.image.tar"
    go run ./scripts/image --binary "$out/$bin" --platform "$p" --version "$version" \
      --revision "$revision" --created "${time:-1970-01-01T00:00:00Z}" --out "$out/$bin.image.tar"
    built+=("$bin.image.tar")
  fi
done

sum() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }
(cd "$out" && sum "${built[@]}" > SHA256SUMS)
echo "release: $out"
cat "$out/SHA256SUMS"
