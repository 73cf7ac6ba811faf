#!/usr/bin/env python3
"""Every command-line module called the way 3D Slicer calls it.

Usage: slicer_contract.py BIN_DIR

For each CLI this reads `--xml` as SlicerExecutionModel's ModuleDescriptionParser does, takes the
value each parameter's widget would hold (qSlicerCLIModuleUIHelper: the default, or what the
scenario below sets, passed through the widget), builds the command line with the rules of
vtkSlicerCLIModuleLogic, runs it on tiny data and checks the outputs and the returned values.
The rules imitated (Slicer's public sources, Base/Logic/vtkSlicerCLIModuleLogic.cxx and
Base/QTCLI/qSlicerCLIModuleUIHelper.cxx):
- `--returnparameterfile FILE` first, only when some output has neither flag nor index; the
  values come back as `name = value` lines;
- then the flagged parameters in declaration order: numbers and enumerations always (an output
  scalar with a flag would get an empty value), booleans only when true, strings, files,
  directories and vectors only when not empty, images and tables only when a node is selected;
- then the positional parameters by index (each one must have a value);
- a number box without a default holds 0; an integer with constraints is a slider whose value is a
  double, printed with %g (1.23457e+08); without constraints a spin box (%d); both are clamped to
  their range (about +-2.1e7 when the XML gives none); doubles are rounded to the widget's decimals;
- images travel as files named <tmp>/<pid>_<name>.nrrd (3D, gzip-encoded NRRD, as Slicer writes a
  volume node, a 2D image as one slice), tables as <tmp>/<pid>_<name><first fileExtension> or .tsv
  (tab-separated then), read back the same way after the run;
- stdout is a pipe: the `<filter-...>` progress tags are read from it.
It also checks the XML against the parts of the contract Slicer does not enforce (constraints with
a maximum, tables with fileExtensions, number inputs with a default, seeds sent exactly) and that a
terminal gets no progress tags.
"""
import csv
import gzip
import math
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
import xml.dom.minidom

import numpy as np

BIN = os.path.abspath(sys.argv[1])
NODE_TAGS = {"image", "geometry", "transform", "table", "measurement", "pointfile"}
PLAIN_TAGS = {"file", "directory", "string", "integer-vector", "float-vector", "double-vector", "string-vector"}
SPINBOX_LIMIT = 2147483647 // 100  # Slicer divides INT_MAX by 100 for its spin boxes and sliders
failures = []


def fail(cli, message):
    failures.append("%s: %s" % (cli, message))
    print("FAIL: %s: %s" % (cli, message), flush=True)


# ---------------------------------------------------------------------------------------------
# The description, as ModuleDescriptionParser reads it.
def text_of(element, tag):
    found = [c for c in element.childNodes if c.nodeType == c.ELEMENT_NODE and c.tagName == tag]
    if not found:
        return ""
    return "".join(n.data for n in found[0].childNodes if n.nodeType in (n.TEXT_NODE, n.CDATA_SECTION_NODE)).strip()


def describe(cli):
    xml_text = subprocess.run([os.path.join(BIN, cli), "--xml"], capture_output=True, check=True).stdout
    root = xml.dom.minidom.parseString(xml_text).documentElement
    params = []
    for group in root.getElementsByTagName("parameters"):
        for el in group.childNodes:
            if el.nodeType != el.ELEMENT_NODE or el.tagName in ("label", "description"):
                continue
            p = {
                "tag": el.tagName,
                "name": text_of(el, "name"),
                "flag": text_of(el, "flag").lstrip("-"),
                "longflag": text_of(el, "longflag").lstrip("-"),
                "index": text_of(el, "index"),
                "channel": text_of(el, "channel"),
                "default": text_of(el, "default"),
                "label": text_of(el, "label"),
                "elements": [e.firstChild.data.strip() for e in el.getElementsByTagName("element")],
                "extensions": [e for e in el.getAttribute("fileExtensions").split(",") if e],
                "constraints": bool(el.getElementsByTagName("constraints")),
            }
            for key in ("minimum", "maximum", "step"):
                nodes = el.getElementsByTagName(key)
                p[key] = nodes[0].firstChild.data.strip() if nodes else ""
            params.append(p)
    return params


def is_return(p):
    return p["channel"] == "output" and not p["flag"] and not p["longflag"] and not p["index"]


# ---------------------------------------------------------------------------------------------
# What the widget holds (qSlicerCLIModuleUIHelper) and how the value is written (%g for doubles).
def qt_to_int(s):
    return int(s) if re.fullmatch(r"[+-]?\d+", s.strip() or "x") else 0


def qt_to_double(s):
    try:
        return float(s)
    except ValueError:
        return 0.0


def decimals_of(s):
    return len(s) - s.index(".") - 1 if "." in s else None


def widget_value(p, typed):
    """The string Slicer puts on the command line for a parameter whose widget holds `typed` (the
    XML default when the user did not touch it)."""
    tag = p["tag"]
    if p["channel"] == "output" and tag in ("integer", "float", "double", "boolean", "string-enumeration"):
        return typed  # a read-only line edit
    if tag == "integer":
        v = qt_to_int(typed)
        lo, hi = -SPINBOX_LIMIT, SPINBOX_LIMIT
        if p["constraints"]:
            lo = qt_to_int(p["minimum"]) if p["minimum"] else lo
            hi = qt_to_int(p["maximum"]) if p["maximum"] else hi
            return "%g" % float(min(max(v, lo), hi))  # ctkSliderWidget: a double
        return "%d" % min(max(v, lo), hi)  # QSpinBox: an int
    if tag in ("float", "double"):
        v = qt_to_double(typed)
        decimals = decimals_of(typed) if decimals_of(typed) is not None else 2
        lo, hi = -sys.float_info.max / 100, sys.float_info.max / 100
        if p["constraints"]:
            for key in ("minimum", "maximum", "step"):
                if p[key] and decimals_of(p[key]) is not None:
                    decimals = max(decimals, decimals_of(p[key]))
            lo = qt_to_double(p["minimum"]) if p["minimum"] else lo
            hi = qt_to_double(p["maximum"]) if p["maximum"] else hi
        return "%g" % min(max(round(v, decimals), lo), hi)
    if tag == "boolean":
        return "true" if typed == "true" else "false"
    if tag == "string-enumeration":
        return typed if typed in p["elements"] else ""
    return typed


# ---------------------------------------------------------------------------------------------
# Files as Slicer writes and reads its nodes.
NRRD_TYPES = {"uchar": np.uint8, "unsigned char": np.uint8, "uint8": np.uint8, "ushort": np.uint16,
              "unsigned short": np.uint16, "uint16": np.uint16, "short": np.int16, "int16": np.int16,
              "float": np.float32, "double": np.float64, "int": np.int32, "uint": np.uint32}


def read_nrrd(path):
    data = open(path, "rb").read()
    head, _, body = data.partition(b"\n\n")
    fields = {}
    for line in head.decode("latin-1").splitlines()[1:]:
        if line.startswith("#") or ": " not in line:
            continue
        key, value = line.split(": ", 1)
        fields[key.strip()] = value.strip()
    if "data file" in fields:
        raise ValueError("%s: detached NRRD data are not read here" % path)
    if fields.get("encoding") in ("gzip", "gz"):
        body = gzip.decompress(body)
    elif fields.get("encoding") != "raw":
        raise ValueError("%s: encoding %s" % (path, fields.get("encoding")))
    sizes = [int(s) for s in fields["sizes"].split()]
    dtype = np.dtype(NRRD_TYPES[fields["type"]]).newbyteorder("<" if fields.get("endian", "little") == "little" else ">")
    array = np.frombuffer(body[: int(np.prod(sizes)) * dtype.itemsize], dtype=dtype).reshape(sizes[::-1])
    spacing = [1.0] * len(sizes)
    if "space directions" in fields:
        vectors = re.findall(r"\(([^)]*)\)", fields["space directions"])
        spacing = [math.sqrt(sum(float(x) ** 2 for x in v.split(","))) for v in vectors]
    elif "spacings" in fields:
        spacing = [float(s) for s in fields["spacings"].split()]
    return array, spacing


def write_slicer_nrrd(source, path):
    """A volume node as Slicer saves it: 3D, LPS space, gzip."""
    if source.lower().endswith(".nrrd"):
        array, spacing = read_nrrd(source)
    else:
        import skimage.io
        array, spacing = skimage.io.imread(source), [1.0, 1.0]
    if array.ndim == 2:
        array, spacing = array[np.newaxis], list(spacing) + [1.0]
    names = {np.dtype(np.uint8): "unsigned char", np.dtype(np.uint16): "unsigned short",
             np.dtype(np.int16): "short", np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
    array = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<")))
    sx, sy, sz = spacing[:3]
    header = ("NRRD0004\n# Complete NRRD file format specification at:\n# http://teem.sourceforge.net/nrrd/format.html\n"
              "type: %s\ndimension: 3\nspace: left-posterior-superior\nsizes: %d %d %d\n"
              "space directions: (%.17g,0,0) (0,%.17g,0) (0,0,%.17g)\nkinds: domain domain domain\n"
              "endian: little\nencoding: gzip\nspace origin: (0,0,0)\n\n"
              % (names[array.dtype.newbyteorder("=")], array.shape[2], array.shape[1], array.shape[0], sx, sy, sz))
    with open(path, "wb") as f:
        f.write(header.encode() + gzip.compress(array.tobytes()))


def read_table(path):
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    return rows[0], rows[1:]


def write_table(source, path):
    header, rows = read_table(source)
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


# ---------------------------------------------------------------------------------------------
class Call:
    """One run of a CLI as Slicer runs it. `values`: what the user set, by parameter name (for an
    image or table node: the file the node was loaded from, or True for a new output node)."""

    counter = 0

    def __init__(self, cli, values, tmp):
        self.cli, self.values, self.tmp = cli, values, tmp
        self.params = describe(cli)
        self.node_files = {}
        self.returned = {}
        names = {p["name"] for p in self.params}
        for name in values:
            if name not in names:
                raise KeyError("%s declares no parameter '%s'" % (cli, name))

    def temporary_name(self, p):
        Call.counter += 1
        if p["tag"] == "image":
            ext = p["extensions"][0] if p["extensions"] else ".nrrd"
        elif p["tag"] == "table":
            ext = p["extensions"][0] if p["extensions"] else ".tsv"
        else:
            raise ValueError("node type %s" % p["tag"])
        # Slicer: <temporary folder>/<pid>_<node id with digits as letters><extension>
        node = "vtkMRML%sNode%d" % ("ScalarVolume" if p["tag"] == "image" else "Table", Call.counter)
        node = node.translate(str.maketrans("0123456789", "ABCDEFGHIJ"))
        return os.path.join(self.tmp, "%d_%s%s" % (os.getpid(), node, ext))

    def command(self):
        cmd = [os.path.join(BIN, self.cli)]
        if any(is_return(p) for p in self.params):
            self.return_file = os.path.join(self.tmp, "%d_%s.params" % (os.getpid(), "RETURNCODE"))
            cmd += ["--returnparameterfile", self.return_file]
        else:
            self.return_file = None
        for p in self.params:  # the nodes are written first
            if p["tag"] in NODE_TAGS and p["name"] in self.values:
                fname = self.temporary_name(p)
                self.node_files[p["name"]] = fname
                if p["channel"] == "input":
                    (write_slicer_nrrd if p["tag"] == "image" else write_table)(self.values[p["name"]], fname)
        for p in self.params:
            if p["index"]:
                continue
            flag = ("--" + p["longflag"]) if p["longflag"] else ("-" + p["flag"]) if p["flag"] else None
            if not flag:
                continue
            tag = p["tag"]
            value = widget_value(p, self.values.get(p["name"], p["default"])) if tag not in NODE_TAGS else None
            if tag == "boolean":
                cmd += [flag] if value == "true" else []
            elif tag in PLAIN_TAGS:
                cmd += [flag, value] if value != "" else []
            elif tag in NODE_TAGS:
                cmd += [flag, self.node_files[p["name"]]] if p["name"] in self.node_files else []
            else:
                cmd += [flag, value]
        for p in sorted((p for p in self.params if p["index"]), key=lambda p: int(p["index"])):
            if p["tag"] in NODE_TAGS:
                if p["name"] not in self.node_files:
                    raise ValueError("No %s data assigned to \"%s\"" % (p["channel"], p["label"]))
                cmd.append(self.node_files[p["name"]])
            else:
                value = widget_value(p, self.values.get(p["name"], p["default"]))
                if value == "" and p["tag"] in PLAIN_TAGS:
                    raise ValueError("No value assigned to \"%s\"" % p["label"])
                cmd.append(value)
        return cmd

    def run(self, expect_returns=True):
        cmd = self.command()
        self.cmd = cmd
        print("%s: %s" % (self.cli, " ".join(os.path.basename(c) if c.startswith(self.tmp) else c for c in cmd)),
              flush=True)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.stdout, self.stderr = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        if r.returncode != 0:
            fail(self.cli, "exit %d: %s" % (r.returncode, self.stderr.strip()[-600:]))
            return False
        ok = True
        # Progress as Slicer reads it from the pipe.
        values = [float(v) for v in re.findall(r"<filter-progress>([^<]*)</filter-progress>", self.stdout)]
        if "<filter-start>" not in self.stdout or "<filter-end>" not in self.stdout or not values:
            fail(self.cli, "no <filter-start>, <filter-progress> and <filter-end> on a pipe")
            ok = False
        elif not all(0 <= a <= b <= 1 for a, b in zip(values, values[1:])):
            fail(self.cli, "progress not in [0, 1] or going back: %s" % values)
            ok = False
        # Return parameters: every declared one, a number.
        if self.return_file:
            if not os.path.exists(self.return_file):
                fail(self.cli, "the return parameter file was not written")
                return False
            for line in open(self.return_file):
                if " = " in line:
                    k, v = line.rstrip("\n").split(" = ", 1)
                    self.returned[k] = v
            for p in self.params:
                if is_return(p) and expect_returns:
                    v = self.returned.get(p["name"])
                    if v is None or not re.fullmatch(r"[-+0-9.eEinfa]+", v):
                        fail(self.cli, "returned %s = %r" % (p["name"], v))
                        ok = False
        # Output nodes: Slicer reads them back.
        for p in self.params:
            if p["channel"] != "output" or p["name"] not in self.node_files:
                continue
            fname = self.node_files[p["name"]]
            if not os.path.exists(fname):
                fail(self.cli, "output %s (%s) was not written" % (p["name"], os.path.basename(fname)))
                ok = False
            elif p["tag"] == "image":
                read_nrrd(fname)
            elif p["tag"] == "table":
                header, rows = read_table(fname)
                if len(header) < 2 or any(len(r) != len(header) for r in rows):
                    fail(self.cli, "output table %s does not read as %s: %s" % (
                        p["name"], "TSV" if fname.endswith(".tsv") else "CSV", header[:3]))
                    ok = False
        return ok

    def out(self, name):
        return self.node_files[name]


# ---------------------------------------------------------------------------------------------
def check_description(cli):
    """The parts of the contract Slicer does not enforce but its widgets need."""
    for p in describe(cli):
        where = "%s (%s)" % (p["name"], p["tag"])
        if p["channel"] == "output" and p["tag"] in ("integer", "float", "double", "string", "boolean") \
                and not is_return(p):
            fail(cli, "output scalar %s has a flag or index: Slicer never reads it back" % where)
        if p["tag"] == "table" and not p["extensions"]:
            fail(cli, "table %s declares no fileExtensions: Slicer sends .tsv" % where)
        if p["constraints"] and not (p["minimum"] and p["maximum"]):
            fail(cli, "constraints of %s without both minimum and maximum: a slider to 2e7" % where)
        if p["tag"] in ("integer", "float", "double") and p["channel"] != "output" and p["default"] == "":
            fail(cli, "number %s has no default: Slicer sends 0" % where)
        if "seed" in p["name"].lower() and p["tag"] != "string":
            fail(cli, "seed %s is not a string: Slicer clamps it to 2e7 (and prints %%g)" % where)
        if p["tag"] == "integer" and p["maximum"] and abs(qt_to_int(p["maximum"])) >= 10 ** 6:
            fail(cli, "maximum of %s >= 1e6: Slicer's %%g would round larger values" % where)


def check_terminal(tmp):
    """On a terminal: the bar on stderr, no progress tags on stdout."""
    master, slave = pty.openpty()
    cmd = [os.path.join(BIN, "MicrostructureSynthesize"), "-o", os.path.join(tmp, "tty.png"), "--size", "64,64"]
    p = subprocess.Popen(cmd, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.wait()
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    if p.returncode != 0 or "<filter-" in text or "[" not in text:
        fail("MicrostructureSynthesize", "on a terminal (exit %d): %r" % (p.returncode, text[-300:]))


def check_by_hand():
    """By hand: a result's name given as an option, and a seed that is not a whole number, are usage
    errors (exit 2) that say what to do."""
    for cli, args, want in (("MicrostructureMeasure", ["x.png", "--meanVolumeFraction", "1"], "--returnparameterfile"),
                            ("MicrostructureSynthesize", ["-o", "x.png", "--seed", "1.23457e+08"], "whole number")):
        r = subprocess.run([os.path.join(BIN, cli)] + args, capture_output=True, text=True)
        if r.returncode != 2 or want not in r.stderr:
            fail(cli, "%s (exit %d): %s" % (" ".join(args), r.returncode, r.stderr.strip()))


def main():
    clis = sorted(c for c in os.listdir(BIN) if c.startswith("Microstructure") and "." not in c)
    for cli in clis:
        check_description(cli)
    check_by_hand()
    tmp = tempfile.mkdtemp(prefix="slicer-contract-")  # Slicer's temporary folder
    work = tempfile.mkdtemp(prefix="slicer-user-")  # the user's folders
    try:
        run_all(tmp, work, set(clis))
        check_terminal(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("\n%d failure(s):\n  %s" % (len(failures), "\n  ".join(failures)))
        sys.exit(1)
    print("Slicer contract: every CLI passed")


def run_all(tmp, work, clis):
    w = lambda *p: os.path.join(work, *p)
    passed = []

    def call(cli, values, **kw):
        c = Call(cli, values, tmp)
        ok = c.run(**kw)
        if ok:
            passed.append(cli)
        return c, ok

    # Synthesize: a dataset (the positional folder; no image node selected) with a seed past 2e7.
    c, ok = call("MicrostructureSynthesize", {"outputDirectory": w("ds"), "coolingRates": "1,10",
                                               "imagesPerRate": "2", "size": "128,128", "seed": "123456789"})
    if not ok:
        return
    header, rows = read_table(w("ds", "micrographs.csv"))
    if len(rows) != 4 or c.returned.get("numberOfImages") != "4":
        fail("MicrostructureSynthesize", "dataset: %d rows, numberOfImages %s" % (len(rows), c.returned))
    # ... and one micrograph into an image node; Slicer fills the folder all the same.
    os.makedirs(w("unused"))
    c, ok = call("MicrostructureSynthesize", {"outputDirectory": w("unused"), "output": True,
                                               "outputPhaseMap": True, "size": "96,64", "seed": "18446744073709551615"})
    if ok:
        image, spacing = read_nrrd(c.out("output"))
        if image.shape[-2:] != (64, 96) or abs(spacing[0] - 0.34) > 1e-9 or os.listdir(w("unused")):
            fail("MicrostructureSynthesize", "one image: shape %s spacing %s, folder %s" % (
                image.shape, spacing, os.listdir(w("unused"))))
        micrograph = c.out("output")

    # Patches: the CSV as a path (a <file>), so its relative paths resolve.
    c, ok = call("MicrostructurePatches", {"micrographs": w("ds", "micrographs.csv"), "outputStack": True,
                                            "outputTable": True, "conditions": "cooling_rate_C_per_s",
                                            "patchSize": "32,32", "testFraction": "0.25"})
    if not ok:
        return
    stack, table = c.out("outputStack"), c.out("outputTable")
    header, rows = read_table(table)
    if read_nrrd(stack)[0].shape[0] != len(rows) or c.returned.get("numberOfPatches") != str(len(rows)):
        fail("MicrostructurePatches", "stack and table disagree: %s" % c.returned)
    # A CSV away from its images (as Slicer copies a <table>): a clear error, and --imageFolder resolves it.
    shutil.copy(w("ds", "micrographs.csv"), w("moved.csv"))
    c = Call("MicrostructurePatches", {"micrographs": w("moved.csv"), "outputStack": True, "outputTable": True}, tmp)
    r = subprocess.run(c.command(), capture_output=True, text=True)
    if r.returncode != 1 or "--imageFolder" not in r.stderr:
        fail("MicrostructurePatches", "a CSV away from its images (exit %d): %s" % (r.returncode, r.stderr[-300:]))
    call("MicrostructurePatches", {"micrographs": w("moved.csv"), "imageFolder": w("ds"), "outputStack": True,
                                   "outputTable": True, "patchSize": "64,64"})

    # Measure: the stack with its patch table (a table node, written as the CSV it declares), all outputs.
    c, ok = call("MicrostructureMeasure", {"input": stack, "patchTable": table, "groupBy": "cooling_rate_C_per_s",
                                           "outputTable": True, "outputCorrelation": True, "outputChords": True,
                                           "outputSummary": w("summary.json"), "correlationDistance": "8"})
    if ok:
        vf = float(c.returned["meanVolumeFraction"])
        measured = read_table(c.out("outputTable"))[1]
        if not (0 < vf < 1 and float(c.returned["meanFreePath"]) > 0) or len(measured) != len(rows):
            fail("MicrostructureMeasure", "returned %s" % c.returned)
    # Tables named .tsv (Slicer's default for a <table> without fileExtensions) are read and written with tabs.
    write_table(table, w("patches.tsv"))
    r = subprocess.run([os.path.join(BIN, "MicrostructureMeasure"), stack, "--table", w("patches.tsv"), "--groupBy",
                        "cooling_rate_C_per_s", "--outputTable", w("measured.tsv")], capture_output=True, text=True)
    if r.returncode != 0 or len(read_table(w("measured.tsv"))[0]) < 2 or "cooling_rate_C_per_s" not in read_table(
            w("measured.tsv"))[0]:
        fail("MicrostructureMeasure", "TSV in and out (exit %d): %s" % (r.returncode, r.stderr[-300:]))
    # ... and one micrograph, the pixel size box untouched (0: the image's own).
    call("MicrostructureMeasure", {"input": w("ds", "images", sorted(os.listdir(w("ds", "images")))[0]),
                                   "outputTable": True})

    if "MicrostructureTrainVQVAE" not in clis:
        print("skipped the LibTorch CLIs: not built")
        return
    tiny = {"encoderChannels": "8,16", "residualBlocks": "1", "codebookSize": "16", "codeDimension": "8",
            "batchSize": "8", "steps": "4", "checkpointInterval": "0", "learningRate": "0.003"}
    c, ok = call("MicrostructureTrainVQVAE", dict(tiny, input=stack, output=w("vq.model"), table=table, log=True))
    if not ok:
        return
    log_header, log_rows = read_table(c.out("log"))
    if abs(float(c.returned["validationMSE"]) - float(log_rows[-1][log_header.index("val_mse")])) > 1e-6:
        fail("MicrostructureTrainVQVAE", "validationMSE %s differs from the log" % c.returned)
    # Encode a micrograph that Slicer hands over as a one-slice 3D volume; decode it back.
    c, ok = call("MicrostructureEncode", {"input": micrograph, "output": True, "model": w("vq.model")})
    if ok:
        maps = c.out("output")
        if read_nrrd(maps)[0].shape[-2:] != (16, 24):
            fail("MicrostructureEncode", "index maps %s" % (read_nrrd(maps)[0].shape,))
        c, ok = call("MicrostructureDecode", {"input": maps, "output": True, "model": w("vq.model")})
        if ok and read_nrrd(c.out("output"))[0].shape[-2:] != (64, 96):
            fail("MicrostructureDecode", "decoded %s" % (read_nrrd(c.out("output"))[0].shape,))

    prior = {"vqvae": w("vq.model"), "table": table, "logConditions": "cooling_rate_C_per_s", "layers": "2",
             "hiddenChannels": "8", "outputHiddenChannels": "16", "batchSize": "8", "steps": "4",
             "learningRate": "0.003"}
    c, ok = call("MicrostructureTrainPrior", dict(prior, input=stack, output=w("prior.model"), log=True))
    if not ok:
        return
    c, ok = call("MicrostructureGenerate", {"output": True, "vqvae": w("vq.model"), "prior": w("prior.model"),
                                            "condition": "ln_cooling_rate_C_per_s=1.1", "samples": "2", "batchSize": "2",
                                            "outputTable": True, "outputIndexMaps": True, "seed": "98765432109"})
    if ok:
        generated = c.out("output")
        if read_nrrd(generated)[0].shape[0] != 2 or len(read_table(c.out("outputTable"))[1]) != 2:
            fail("MicrostructureGenerate", "not 2 samples")
        c, ok = call("MicrostructureInferCondition", {"input": generated, "output": True, "vqvae": w("vq.model"),
                                                      "prior": w("prior.model"),
                                                      "parameter": "ln_cooling_rate_C_per_s", "grid": "-1:4:11",
                                                      "outputSummary": True})
        if ok and not (-1 <= float(c.returned["maximumAPosteriori"]) <= 4):
            fail("MicrostructureInferCondition", "returned %s" % c.returned)

    # Study: minutes even with its tiny preset (cli.study runs it); here its command line only, up to the
    # config file it reads first (not JSON: a clear error after the arguments were accepted).
    open(w("bad.json"), "w").write("{ not json")
    c = Call("MicrostructureStudy", {"output": w("study"), "config": w("bad.json")}, tmp)
    cmd = c.command()
    r = subprocess.run(cmd, capture_output=True, text=True)
    print("MicrostructureStudy: %s" % " ".join(cmd[1:]), flush=True)
    if r.returncode != 1 or "is not valid JSON" not in r.stderr:
        fail("MicrostructureStudy", "command line refused (exit %d): %s" % (r.returncode, r.stderr.strip()[-300:]))
    else:
        passed.append("MicrostructureStudy (command line)")
    print("ran as Slicer runs them: %s" % ", ".join(sorted(set(passed))), flush=True)


if __name__ == "__main__":
    main()
