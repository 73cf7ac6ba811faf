#!/usr/bin/env bash
# Builds a compressed bundle of what the project needs from Debian's ITK 5.2 (+ GTest, nlohmann-json,
# FFTW header) so it can build on a machine that has no ITK (e.g. a GPU box with only pip's torch).
# The bundle unpacks at / with no-clobber (cp -rn): paths stay those of Debian's packages, so the ITK
# CMake config needs no relocation. ITK's config is trimmed to the modules the project uses
# (ITK_MODULES_ENABLED), so DCMTK/GDCM/HDF5/MINC are not searched for.
# Usage: make_itk_bundle.sh OUT.tar.xz [MODULE...]
set -euo pipefail
out=$(realpath -m "$1"); shift || true
req=("$@")
[ ${#req[@]} -gt 0 ] || req=(ITKCommon ITKImageFilterBase ITKImageFunction ITKImageGrid ITKImageIntensity
  ITKImageStatistics ITKSmoothing ITKStatistics ITKThresholding ITKTransform ITKFFT ITKIOImageBase ITKIOPNG
  ITKIONRRD ITKIOMeta ITKIONIFTI ITKIOTIFF ITKIOJPEG ITKIOBMP)
cm=/usr/lib/cmake/ITK-5.2
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
# module closure and its libraries (target names -> files through ITKTargets-none.cmake)
read -r mods libs < <(python3 - "$cm" "${req[@]}" <<'PY'
import re, sys
cm, req = sys.argv[1], sys.argv[2:]
def var(m, v):
    t = open(f'{cm}/Modules/{m}.cmake').read()
    r = re.search(r'set\(%s_%s "([^"]*)"\)' % (m, v), t)
    return [x for x in r.group(1).split(';') if x] if r else []
seen, st = [], list(req)
while st:
    m = st.pop()
    if m not in seen:
        seen.append(m); st += var(m, 'DEPENDS')
tg = open(f'{cm}/ITKTargets-none.cmake').read()
ti = open(f'{cm}/ITKTargets.cmake').read()
def location(t):
    r = re.search(r'set_target_properties\(%s PROPERTIES\n[^)]*?IMPORTED_LOCATION_NONE "\$\{_IMPORT_PREFIX\}/([^"]*)"' % re.escape(t), tg)
    return '/usr/' + r.group(1) if r else None
def interface(t):  # a target's INTERFACE_LINK_LIBRARIES (other targets reach the link through them)
    r = re.search(r'set_target_properties\(%s PROPERTIES\n[^)]*?INTERFACE_LINK_LIBRARIES "([^"]*)"' % re.escape(t), ti)
    return [x for x in r.group(1).split(';') if x] if r else []
files, done = set(), set()
todo = [l for m in seen for l in var(m, 'LIBRARIES')]
while todo:
    l = todo.pop()
    if l in done: continue
    done.add(l)
    loc = location(l)
    if loc: files.add(loc); todo += interface(l)
    elif l.startswith('/'): files.add(l)
print(';'.join(sorted(seen)), ';'.join(sorted(files)))
PY
)
echo "modules: $mods"
IFS=';' read -r -a libfiles <<<"$libs"
mkdir -p "$stage/opt/itkrt/lib"
copy() { for f in "$@"; do mkdir -p "$stage$(dirname "$f")"; cp -a "$f" "$stage$f"; done; }
# ITK: headers, CMake config, the module libraries (files and their .so symlinks)
copy /usr/include/ITK-5.2 $cm /usr/include/fftw3.h
for f in "${libfiles[@]}"; do
  case "$f" in
    /usr/lib/x86_64-linux-gnu/*) mkdir -p "$stage$(dirname "$f")"; cp -L "$f" "$stage$f" ;;  # dev symlinks as files
    *) copy "$f"; [ -e "${f%.1}" ] && copy "${f%.1}" ;;
  esac
done
# FFTW, linked by name (-lfftw3 ...) through ITKFFT's interface: development links as files
for f in /usr/lib/x86_64-linux-gnu/libfftw3{,f}{,_threads}.so; do mkdir -p "$stage${f%/*}"; cp -L "$f" "$stage$f"; done
# trim ITK's config to the closure, and drop the imported-file existence check (libraries not carried)
sed -i -E "s|^set\(ITK_MODULES_ENABLED \".*\"\)|set(ITK_MODULES_ENABLED \"$mods\")|" "$stage$cm/ITKConfig.cmake"
grep -q "ITK_MODULES_ENABLED \"$mods\"" "$stage$cm/ITKConfig.cmake"
sed -i -E 's|^foreach\(_cmake_target IN LISTS _cmake_import_check_targets\)|foreach(_cmake_target IN ITEMS)|' "$stage$cm/ITKTargets.cmake"
# runtime closure of those libraries (not glibc, libstdc++, libgcc, torch & co)
for f in "${libfiles[@]}"; do ldd "$f"; done | awk '/=> \//{print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|libpthread|librt|libz|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so|torch|c10|openblas|dnnl|opencv' |
  while read -r l; do
    b=$(basename "$l")
    case "$b" in
      libITK*|libitk*) [ -e "$stage/usr/lib/$b" ] || copy "/usr/lib/$b" ;;  # an ITK library outside the closure
      *) cp -L "$l" "$stage/opt/itkrt/lib/" ;;
    esac
  done
# GTest (static), nlohmann-json
copy /usr/include/gtest /usr/include/gmock /usr/lib/x86_64-linux-gnu/cmake/GTest /usr/lib/x86_64-linux-gnu/libgtest.a \
  /usr/lib/x86_64-linux-gnu/libgtest_main.a /usr/lib/x86_64-linux-gnu/libgmock.a /usr/lib/x86_64-linux-gnu/libgmock_main.a \
  /usr/include/nlohmann /usr/share/cmake/nlohmann_json
tar -C "$stage" -cf - . | xz -T2 -6 > "$out"
ls -la "$out"; tar -tJf "$out" | grep -c .
