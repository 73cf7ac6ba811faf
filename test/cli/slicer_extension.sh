#!/usr/bin/env bash
# The tree configured as a 3D Slicer extension, as far as this machine allows without Slicer:
# against a stand-in SlicerConfig.cmake (test/slicer_stub/), it must hand Slicer complete metadata
# (homepage, category, contributors, description, icon and screenshot addresses into the repository,
# dependencies), place and install every CLI in Slicer's CLI module folder with its description
# beside it and the LibTorch modules in libexec/ next to that folder, bundle the modules' runtime
# libraries at install, and write an Extensions Index entry that follows Slicer's schema
# (Schemas/slicer-extension-catalog-entry-schema-v1.0.1.json). The icon is a 128 x 128 PNG.
source "$(dirname "$0")/common.sh" || exit 1
src=$(cd "$2" && pwd)
command -v cmake >/dev/null || { echo "skipped: no cmake"; exit 77; }
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
url=https://github.com/example-owner/ITKStochasticMicrostructure
cmake -S "$src" -B ext "${generator[@]}" -DSlicer_DIR="$src/test/slicer_stub" -DBUILD_TESTING=OFF \
  -DStochasticMicrostructure_BUILD_BENCHMARKS=OFF -DStochasticMicrostructure_REPOSITORY_URL=$url >configure.txt 2>&1 ||
  { tail -30 configure.txt; echo "FAIL: the tree does not configure as a Slicer extension"; exit 1; }
torch=0; grep -q "LibTorch found" configure.txt && torch=1
$py - "$src" "$url" "$torch" <<'PY' || exit 1
import json, os, re, sys
src, url, torch = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
fail = []
record = dict(line.split("=", 1) for line in open("ext/slicer_extension_record.txt").read().splitlines())
raw = "https://raw.githubusercontent.com/example-owner/ITKStochasticMicrostructure/main/"
for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
    if not record.get("EXTENSION_" + key):
        fail.append("EXTENSION_%s is empty" % key)
if record.get("EXTENSION_HOMEPAGE") != url:
    fail.append("homepage %r" % record.get("EXTENSION_HOMEPAGE"))
for key in ("ICONURL", "SCREENSHOTURLS"):
    value = record.get("EXTENSION_" + key, "")
    if not value.startswith(raw) or not os.path.isfile(os.path.join(src, value[len(raw):])):
        fail.append("EXTENSION_%s %r is not a file of the repository" % (key, value))
if record.get("Slicer_USE_FILE_INCLUDED") != "TRUE" or record.get("cpack") != "included":
    fail.append("Slicer's use file or CPack step not included: %r" % record)
from skimage import io
icon = io.imread(os.path.join(src, "StochasticMicrostructure.png"))
if icon.shape[:2] != (128, 128):
    fail.append("icon %s, not 128 x 128" % (icon.shape,))
# The Extensions Index entry against the schema: required keys, no others, their types.
entry = json.load(open("ext/StochasticMicrostructure.json"))
allowed = {"$schema": str, "category": str, "scm_url": str, "scm_revision": str, "scm_type": str,
           "build_dependencies": list, "build_subdirectory": str, "enabled": bool, "tier": int}
for key in ("$schema", "category", "scm_url"):
    if key not in entry:
        fail.append("the index entry lacks " + key)
for key, value in entry.items():
    if key not in allowed or not isinstance(value, allowed[key]):
        fail.append("the index entry's %s = %r is not in the schema" % (key, value))
if not entry.get("$schema", "").endswith("slicer-extension-catalog-entry-schema-v1.0.1.json#"):
    fail.append("schema " + entry.get("$schema", ""))
if entry.get("scm_url") != url or entry.get("category") != record.get("EXTENSION_CATEGORY") or not 1 <= entry.get("tier", 1) <= 5:
    fail.append("index entry %r" % entry)
# Where the build puts the CLIs, and what it installs where.
ninja = open("ext/build.ninja").read() if os.path.exists("ext/build.ninja") else ""
install = open("ext/apps/cmake_install.cmake").read()
clis = ["MicrostructureMeasure", "MicrostructurePatches", "MicrostructureSynthesize"]
modules = ["MicrostructureDecode", "MicrostructureEncode", "MicrostructureGenerate", "MicrostructureInferCondition",
           "MicrostructureStudy", "MicrostructureTrainPrior", "MicrostructureTrainVQVAE"] if torch else []
for name in clis + modules:
    if ninja and "lib/Slicer-5.6/cli-modules/" + name not in ninja:
        fail.append(name + " is not built into lib/Slicer-5.6/cli-modules")
    if not re.search(r'DESTINATION "\$\{CMAKE_INSTALL_PREFIX\}/\./lib/Slicer-5\.6/cli-modules" TYPE EXECUTABLE FILES "[^"]*/cli-modules/%s"' % name, install):
        fail.append(name + " is not installed into lib/Slicer-5.6/cli-modules")
for name in modules:
    if ninja and "lib/Slicer-5.6/libexec/StochasticMicrostructure/" + name not in ninja:
        fail.append(name + "'s module is not built into lib/Slicer-5.6/libexec/StochasticMicrostructure")
    if not re.search(r'/\./lib/Slicer-5\.6/libexec/StochasticMicrostructure" TYPE EXECUTABLE FILES "[^"]*/%s"' % name, install):
        fail.append(name + "'s module is not installed into lib/Slicer-5.6/libexec/StochasticMicrostructure")
    if not re.search(r'cli-modules" TYPE FILE FILES "[^"]*/cli-modules/%s\.xml"' % name, install):
        fail.append(name + ".xml is not installed beside it")
if torch and "GET_RUNTIME_DEPENDENCIES" not in open("ext/cmake_install.cmake").read():
    fail.append("LibTorch is not bundled at install")
if fail:
    sys.exit("FAIL: " + "; ".join(fail))
print("extension: %d CLIs, %d LibTorch modules, metadata and index entry checked" % (len(clis) + len(modules), len(modules)))
PY
