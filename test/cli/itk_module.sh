#!/usr/bin/env bash
# The files the ITK module builds read stay consistent with the standalone build (docs/itk_module.md):
# the ITK modules the standalone build asks for are itk-module.cmake's DEPENDS and PRIVATE_DEPENDS, its
# description survives ITK's argument parsing (no ';'), every wrapped class has its header, and
# pyproject.toml names the module and CMake's version.
source "$(dirname "$0")/common.sh" || exit 1
$py - "$2" <<'PY'
import pathlib, re, sys, tomllib
root = pathlib.Path(sys.argv[1])
cmake = (root / "CMakeLists.txt").read_text()
module = (root / "itk-module.cmake").read_text()
body = re.search(r"itk_module\((.*?)\n\)", module, re.S).group(1)
# Keyword sections of itk_module(): the words after each keyword, up to the next keyword.
keywords = ["DEPENDS", "PRIVATE_DEPENDS", "TEST_DEPENDS", "COMPILE_DEPENDS", "DESCRIPTION", "EXCLUDE_FROM_DEFAULT",
            "ENABLE_SHARED"]
words = re.findall(r'"[^"]*"|\S+', re.sub(r"#[^\n]*", "", body))
sections, current = {}, None
for w in words[1:]:
    if w in keywords:
        current = sections.setdefault(w, [])
    elif current is not None:
        current.append(w)
components = re.search(r"find_package\(ITK REQUIRED COMPONENTS(.*?)\)", cmake, re.S).group(1).split()
declared = sections.get("DEPENDS", []) + sections.get("PRIVATE_DEPENDS", [])
if sorted(components) != sorted(declared):
    sys.exit(f"FAIL: find_package(ITK COMPONENTS) and itk-module.cmake differ: only in CMakeLists.txt "
             f"{sorted(set(components) - set(declared))}, only in itk-module.cmake {sorted(set(declared) - set(components))}")
description = sections["DESCRIPTION"]
if len(description) != 1 or ";" in description[0]:
    sys.exit(f"FAIL: itk-module.cmake's DESCRIPTION must be one quoted string without ';' (ITK splits it there)")
for wrap in sorted((root / "wrapping").glob("*.wrap")):
    name = re.search(r'itk_wrap_class\("itk::(\w+)"', wrap.read_text()).group(1)
    if wrap.stem != f"itk{name}" or not (root / "include" / f"itk{name}.h").exists():
        sys.exit(f"FAIL: {wrap.name} wraps itk::{name}, which has no include/itk{name}.h")
project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
version = re.search(r"project\(StochasticMicrostructure VERSION (\S+)", cmake).group(1)
if project["name"] != "itk-stochasticmicrostructure" or project["version"] != version:
    sys.exit(f"FAIL: pyproject.toml names {project['name']} {project['version']}, CMake StochasticMicrostructure {version}")
print("ok")
PY
