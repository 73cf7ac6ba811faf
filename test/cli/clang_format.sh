#!/usr/bin/env bash
# Every C++ source of the project is laid out as .clang-format says (clang-format 14, Debian 12's):
# `clang-format -i FILE` fixes a file this test names.
src=$(cd "$2" && pwd) || exit 1
source "$(dirname "$0")/common.sh" || exit 1
command -v clang-format >/dev/null || { echo "skipped: no clang-format (apt install clang-format)"; exit 77; }
clang-format --version | grep -q "version 14\." ||
  { echo "skipped: $(clang-format --version) is not clang-format 14, which .clang-format was checked with"; exit 77; }
bad=() checked=0
while IFS= read -r -d '' f; do
  checked=$((checked + 1))
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("${f#"$src"/}")
done < <(find "$src"/apps "$src"/bench "$src"/examples "$src"/fuzz "$src"/include "$src"/src "$src"/test \
  -type f \( -name '*.cxx' -o -name '*.h' -o -name '*.hxx' \) -print0)
[ "$checked" -ge 100 ] || { echo "FAIL: only $checked C++ files found under $src"; exit 1; }
[ ${#bad[@]} -eq 0 ] || { echo "FAIL: not formatted (clang-format -i): ${bad[*]}"; exit 1; }
echo "PASS: $checked files"
