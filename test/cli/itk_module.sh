#!/usr/bin/env bash
# The files the ITK module builds read stay consistent with the standalone build (docs/itk_module.md):
# the ITK modules the standalone build asks for are itk-module.cmake's DEPENDS and PRIVATE_DEPENDS, its
# description survives ITK's argument parsing (no ';'), every wrapped class has its header, the result
# structs' fields are all exposed to Python (sm_wrap_fields), and
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
# ITK's wrapping includes itk<Name>.h for each wrapped class unless the file turns that off and names its
# headers (itk_wrap_include): each class must be declared in a header the wrapping includes, and each file
# must wrap the class it is named after.
for wrap in sorted((root / "wrapping").glob("*.wrap")):
    text = re.sub(r"#[^\n]*", "", wrap.read_text())
    classes = re.findall(r'itk_wrap_(?:simple_)?class\("itk::(\w+)"', text)
    if wrap.stem[3:] not in classes:
        sys.exit(f"FAIL: {wrap.name} does not wrap itk::{wrap.stem[3:]}")
    includes = re.findall(r'itk_wrap_include\("([^"]+)"\)', text)
    if "WRAPPER_AUTO_INCLUDE_HEADERS OFF" not in text:
        includes += [f"itk{c}.h" for c in classes]
    for header in includes:
        if not (root / "include" / header).exists():
            sys.exit(f"FAIL: {wrap.name} includes {header}, which is not in include/")
    declared = " ".join((root / "include" / h).read_text() for h in includes)
    for c in classes:
        if not re.search(rf"(class|struct)\s+(ITK_TEMPLATE_EXPORT\s+|StochasticMicrostructure_EXPORT\s+)?{c}\b", declared):
            sys.exit(f"FAIL: {wrap.name} wraps itk::{c}, which none of its headers {includes} declares")
# Result structs: sm_wrap_fields must list every numeric or std::vector<double> field the struct declares.
wrap_text = " ".join(re.sub(r"#[^\n]*", "", w.read_text()) for w in (root / "wrapping").glob("*.wrap"))
headers = " ".join(p.read_text() for p in (root / "include").glob("*.h"))
listed = {}
for swig_class, fields in re.findall(r"sm_wrap_fields\(itk(\w+)\s+(?:\"[^\"]*\"|\S+)\s+([^)]*)\)", wrap_text):
    listed.setdefault(swig_class, set()).update(fields.split())
for struct in re.findall(r'itk_wrap_simple_class\("itk::(\w+)"', wrap_text):
    if struct.endswith("Enums"):
        continue
    body = re.search(rf"struct\s+(?:StochasticMicrostructure_EXPORT\s+)?{struct}\s*\{{(.*?)\n\}};", headers, re.S).group(1)
    body = re.sub(r"/\*.*?\*/|//[^\n]*", "", body, flags=re.S)
    fields = set(re.findall(r"^\s*(?:double|unsigned|SizeValueType|std::vector<double>)\s+(\w+)\s*[{;]", body, re.M))
    if fields != listed.get(struct, set()):
        sys.exit(f"FAIL: sm_wrap_fields for {struct}: missing {sorted(fields - listed.get(struct, set()))}, "
                 f"not fields {sorted(listed.get(struct, set()) - fields)}")
project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
version = re.search(r"project\(StochasticMicrostructure VERSION (\S+)", cmake).group(1)
if project["name"] != "itk-stochasticmicrostructure" or project["version"] != version:
    sys.exit(f"FAIL: pyproject.toml names {project['name']} {project['version']}, CMake StochasticMicrostructure {version}")
print("ok")
PY
