#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# The documentation and the command line agree:
#  - every flag the man page (dist/offsetprobe.1) documents for a command is in
#    that command's --help, and every flag in a --help is in the man page;
#  - every command of `offsetprobe --help` (recursively) has its man section;
#  - every command and flag used in the README's and the docs' code blocks is
#    accepted by this binary (a command it does not have, misspelt or
#    removed, fails like an unknown flag);
#  - the exit codes of README.md, the man page and offsetprobe/cli/exit_codes.h
#    are the same set;
#  - with --json and -v, stdout holds JSON or nothing, never a log line;
#  - `offsetprobe --version` prints the project version.
# Usage: help.py OFFSETPROBE SOURCE_ROOT VERSION. Needs no root.
import os, re, subprocess, sys

exe, root, version = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL " + msg)


def run_help(cmd):
    p = subprocess.run([exe, *cmd, "--help"], capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"`offsetprobe {' '.join(cmd)} --help` exits {p.returncode}")
    if p.stderr:
        fail(f"`offsetprobe {' '.join(cmd)} --help` writes to stderr: {p.stderr.strip()}")
    return p.stdout


FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")


def parse_help(text):
    """(flags, subcommands) of one --help text (CLI11 layout)."""
    flags, subs, section = set(), [], None
    for line in text.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line[:-1]
            continue
        if section == "Options" and re.match(r"^  -", line):
            spec = line.split()[0]  # "-f,--format"
            flags.update(spec.split(","))
        elif section == "Subcommands" and re.match(r"^  \S", line):
            subs.append(line.split()[0])
    return flags, subs


# --- the binary's command tree -------------------------------------------
helps = {}  # command path (tuple) -> (flags, subcommands)


def walk(cmd):
    helps[cmd] = parse_help(run_help(list(cmd)))
    for s in helps[cmd][1]:
        walk(cmd + (s,))


walk(())
global_flags = helps[()][0]
print(f"commands: {', '.join(' '.join(c) or '(top)' for c in helps)}")

# --- the man page ---------------------------------------------------------
man_path = os.path.join(root, "dist/offsetprobe.1")
man = {}  # command path -> documented flags
section, take_tag = None, False
for raw in open(man_path):
    line = raw.rstrip("\n")
    m = re.match(r'^\.SS\s+"?offsetprobe\s+([^"]+?)"?\s*$', line)
    if m:
        section = tuple(m.group(1).split())
        man.setdefault(section, set())
        continue
    if line.startswith(".SH"):
        section = () if line.strip() == ".SH GLOBAL OPTIONS" else None
        if section == ():
            man.setdefault((), set())
        continue
    if line.startswith(".TP"):
        take_tag = True
        continue
    if take_tag:
        take_tag = False
        if section is not None:
            man[section].update(FLAG.findall(line.replace("\\-", "-")))

for cmd, (flags, subs) in helps.items():
    name = "offsetprobe " + " ".join(cmd) if cmd else "offsetprobe"
    if cmd and subs:
        # A command group (cache, bundle): only its subcommands are documented.
        extra = flags - {"-h", "--help"}
        if extra:
            fail(f"{name} has flags {sorted(extra)} of its own: document them in the man page")
        continue
    if cmd not in man:
        fail(f"{name}: no section `.SS \"{name}\"` in dist/offsetprobe.1")
        continue
    for f in sorted(man[cmd]):
        if f not in flags:
            fail(f"{name}: the man page documents {f}, `{name} --help` does not list it")
        else:
            print(f"ok   {name} {f}")
    implicit = {"-h", "--help"} if cmd else set()
    for f in sorted(flags - man[cmd] - implicit):
        fail(f"{name}: `--help` lists {f}, the man page does not document it")
for cmd in man:
    if cmd not in helps:
        fail(f"the man page documents `offsetprobe {' '.join(cmd)}`, the binary has no such command")

# --- README and docs code blocks ------------------------------------------
SPLIT = re.compile(r"\|\||&&|[|;]|\$\(|`|\)")
for doc in ["README.md", "docs/agents.md", "docs/cache-format.md"]:
    path = os.path.join(root, doc)
    fenced = False
    for n, line in enumerate(open(path), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            continue
        for seg in SPLIT.split(line):
            words = seg.split()
            idx = next((i for i, w in enumerate(words)
                        if w == "offsetprobe" or w.endswith("/offsetprobe")), None)
            if idx is None:
                continue
            args = words[idx + 1:]
            cmd = ()
            for w in args:
                if w.startswith("-"):
                    continue
                if cmd + (w,) in helps:
                    cmd += (w,)
                elif w.isidentifier() and w.islower() and (not cmd or any(
                        len(k) > len(cmd) and k[:len(cmd)] == cmd for k in helps)):
                    # A command (or a subcommand of one that has them) this
                    # binary lacks: misspelt, or removed.
                    fail(f"{doc}:{n}: `offsetprobe {' '.join(cmd + (w,))}`: the binary has no such command")
                    cmd = None
                    break
                else:
                    break
            if cmd is None:
                continue
            allowed = helps[cmd][0] | global_flags
            for w in args:
                if w in (">", "<") or w.startswith((">", "<")):
                    break
                flag = w.split("=", 1)[0]
                if FLAG.fullmatch(flag) and flag not in allowed:
                    fail(f"{doc}:{n}: `offsetprobe {' '.join(cmd)}` has no flag {flag}")

# --- exit codes -------------------------------------------------------------
readme = open(os.path.join(root, "README.md")).read()
m = re.search(r"^## Exit codes\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
readme_codes = set(re.findall(r"^\| (\d+) \|", m.group(1), re.M)) if m else set()
mantext = open(man_path).read()
m = re.search(r"^\.SH EXIT STATUS\n(.*?)(?=^\.SH )", mantext, re.M | re.S)
man_codes = set(re.findall(r"^\.TP\n\.B (\d+)$", m.group(1), re.M)) if m else set()
header = open(os.path.join(root, "offsetprobe/cli/exit_codes.h")).read()
code_codes = set(re.findall(r"^\s*exit_\w+\s*=\s*(\d+),", header, re.M))
if not code_codes:
    fail("no exit codes found in offsetprobe/cli/exit_codes.h")
for name, codes in [("README.md", readme_codes), ("dist/offsetprobe.1", man_codes)]:
    if codes != code_codes:
        fail(f"exit codes of {name} {sorted(codes, key=int)} != exit_codes.h "
             f"{sorted(code_codes, key=int)}")
    else:
        print(f"ok   exit codes of {name} = exit_codes.h ({len(codes)} codes)")

# --- --json: stdout is one JSON document or nothing, logs go to stderr --------
import json, tempfile
with tempfile.TemporaryDirectory() as d:
    for args, want_rc in [(["-v", "cache", "list", "--json"], 0),
                          (["show", "--json", "-v"], 3),
                          (["export", "--format", "json", "-v"], 3),
                          (["verify", "--json", "-v"], 3)]:
        p = subprocess.run([exe, "--cache-dir", d, *args], capture_output=True, text=True)
        what = "offsetprobe " + " ".join(args)
        if p.returncode != want_rc:
            fail(f"`{what}` with an empty cache exits {p.returncode}, want {want_rc}")
        elif want_rc == 0:
            try:
                json.loads(p.stdout)
                print(f"ok   {what}: stdout is JSON")
            except ValueError:
                fail(f"`{what}`: stdout is not one JSON document: {p.stdout[:200]!r}")
        elif p.stdout or not p.stderr:
            fail(f"`{what}` failing: stdout {p.stdout[:200]!r}, stderr {p.stderr[:200]!r}")
        else:
            print(f"ok   {what}: exit {want_rc}, nothing on stdout, the reason on stderr")

# --- the man page's version -------------------------------------------------
th = re.search(r'^\.TH OFFSETPROBE 1 "[^"]*" "offsetprobe ([^"]+)"', mantext, re.M)
if not th or th.group(1) != version:
    fail(f"dist/offsetprobe.1 .TH names version {th.group(1) if th else None!r}, meson.build {version!r}")
else:
    print(f"ok   man page .TH version {version}")

# --- --version --------------------------------------------------------------
p = subprocess.run([exe, "--version"], capture_output=True, text=True)
if p.returncode != 0 or p.stdout.strip() != version:
    fail(f"`offsetprobe --version` gave {p.stdout.strip()!r} (exit {p.returncode}), want {version!r}")
else:
    print(f"ok   offsetprobe --version = {version}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
