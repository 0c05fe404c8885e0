#!/bin/sh
# buildui.sh TARBALL OUT builds KubeOrch's UI (a Next.js app with output
# "standalone") from its source tarball into OUT, ready to run with
# `node OUT/server.js`. The API is same-origin at /v1/api, so the build does
# not depend on the port of any test. It needs npm's registry and no other
# network: the two Google fonts the UI's layout asks for at build time are
# answered by Next's documented mock (NEXT_FONT_GOOGLE_MOCKED_RESPONSES), so
# the browser falls back to the fallback fonts Next computes. The UI's own
# files are not changed.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 TARBALL OUT" >&2
	exit 2
fi
tarball=$(realpath "$1")
out=$(realpath -m "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tar -xzf "$tarball" -C "$work"
app=$work/kubeorch-ui
[ -f "$app/package-lock.json" ] || { echo "$tarball: no kubeorch-ui/package-lock.json" >&2; exit 1; }

# The CSS Google Fonts would answer for each family the layout loads, with
# the font taken from the reader's machine (local()) rather than a file to
# download: Turbopack fetches font files even when the CSS is mocked.
cat >"$work/google-fonts.js" <<'JS'
const css = (family) => `/* latin */
@font-face {
  font-family: '${family}';
  font-style: normal;
  font-weight: 100 900;
  font-display: swap;
  src: local('${family}');
  unicode-range: U+0000-00FF;
}
`;
module.exports = {
  "https://fonts.googleapis.com/css2?family=Geist:wght@100..900&display=swap": css("Geist"),
  "https://fonts.googleapis.com/css2?family=Geist+Mono:wght@100..900&display=swap": css("Geist Mono"),
};
JS

cd "$app"
npm ci --no-audit --no-fund --loglevel=error
NEXT_TELEMETRY_DISABLED=1 \
NEXT_PUBLIC_API_URL=/v1/api \
NEXT_FONT_GOOGLE_MOCKED_RESPONSES="$work/google-fonts.js" \
	npx --no-install next build

# Next's standalone output, with the static files and public folder it
# expects next to server.js.
rm -rf "$out.new"
mkdir -p "$out.new"
cp -a .next/standalone/. "$out.new/"
cp -a .next/static "$out.new/.next/static"
cp -a public "$out.new/public"
rm -rf "$out"
mv "$out.new" "$out"
echo "built $out"
