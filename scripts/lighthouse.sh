#!/usr/bin/env bash
# Score the default theme with Lighthouse: build the sample blog, serve it on 127.0.0.1 with
# python's http.server, run Lighthouse (npm lighthouse@12.2.3) with Debian's chromium on the
# front page, a series post with code, math and footnotes, and a topic page, and print the
# four category scores. Exits 1 when a page misses the targets: 100 for accessibility, best
# practices and SEO, at least 95 for performance.
#
#   scripts/lighthouse.sh                 # the three pages, Lighthouse's default (mobile)
#   scripts/lighthouse.sh /archive/ /404.html
#   LH_PRESET=desktop scripts/lighthouse.sh
#   LH_DARK=1 scripts/lighthouse.sh       # the same audits with the dark colour scheme
#
# Reports (HTML and JSON) are kept in artifacts/lighthouse/. Environment: PYTHON (default
# .venv/bin/python, else python3), CHROME_PATH (default /usr/bin/chromium), PORT (8765).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium}
PORT=${PORT:-8765}
PAGES=("$@")
if [[ ${#PAGES[@]} -eq 0 ]]; then
  PAGES=(/ /2026/03/trainable-self-attention/ /topics/llm-from-scratch/)
fi

LIGHTHOUSE=$ROOT/node_modules/.bin/lighthouse
if [[ ! -x $LIGHTHOUSE ]]; then
  echo "installing lighthouse@12.2.3 into node_modules/ (git-ignored)" >&2
  npm install --no-save --no-package-lock --silent lighthouse@12.2.3 >&2
fi

WORK=$(mktemp -d)
SERVER=""
cleanup() {
  if [[ -n $SERVER ]]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PYTHONPATH=$ROOT "$PYTHON" -m blogkeeper build --site . --out "$WORK/public" >&2
"$PYTHON" -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/public" >/dev/null 2>&1 &
SERVER=$!
for _ in $(seq 50); do
  if "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/')" 2>/dev/null; then break; fi
  sleep 0.1
done

FLAGS="--headless --no-sandbox --disable-gpu --disable-background-networking"
if [[ -n ${LH_DARK:-} ]]; then FLAGS="$FLAGS --force-dark-mode"; fi
EXTRA=()
if [[ -n ${LH_PRESET:-} ]]; then EXTRA+=("--preset=$LH_PRESET"); fi
REPORTS=$ROOT/artifacts/lighthouse
mkdir -p "$REPORTS"

status=0
for page in "${PAGES[@]}"; do
  name=$(echo "$page" | tr -c 'a-zA-Z0-9\n' '-' | sed 's/^-*//; s/-*$//')
  name=${name:-front}${LH_PRESET:+-$LH_PRESET}${LH_DARK:+-dark}
  "$LIGHTHOUSE" "http://127.0.0.1:$PORT$page" --quiet \
    --only-categories=performance,accessibility,best-practices,seo \
    --chrome-flags="$FLAGS" "${EXTRA[@]}" \
    --output=json --output=html --output-path="$REPORTS/$name" >/dev/null
  "$PYTHON" - "$REPORTS/$name.report.json" "$page" <<'EOF' || status=1
import json, sys

report = json.load(open(sys.argv[1]))
scores = {k: round(v["score"] * 100) for k, v in report["categories"].items()}
targets = {"performance": 95, "accessibility": 100, "best-practices": 100, "seo": 100}
print(f"{sys.argv[2]:42} " + "  ".join(f"{k} {scores[k]:3}" for k in targets))
missed = [k for k, floor in targets.items() if scores[k] < floor]
for key in missed:
    for ref in report["categories"][key]["auditRefs"]:
        audit = report["audits"][ref["id"]]
        if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
            print(f"    {key}: {audit['id']}: {audit['title']} ({audit.get('displayValue', '')})")
sys.exit(1 if missed else 0)
EOF
done
exit $status
