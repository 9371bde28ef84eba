# SPDX-License-Identifier: GPL-2.0-only
"""The Python reader on the shared fixtures (tests/fixtures/cache/cases.json):
the same cases, with the same verdicts, as the C++ and Go readers' tests.
Runs under `python3 -m pytest` and `python3 -m unittest`."""

import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import offsetprobe  # noqa: E402

FIXTURES = os.environ.get("OFFSETPROBE_READER_FIXTURES",
                          os.path.join(HERE, "..", "..", "tests", "fixtures", "cache"))
VALID_BUILD_ID = "0123456789abcdef0123456789abcdef01234567"


def set_up(case, d, name, max_bytes):
    """Lays out one case in d (see the fixtures' README); returns the dir the
    reader is given."""
    entry_path = os.path.join(d, name)
    setup = case["setup"]

    def copy_entry(to):
        shutil.copyfile(os.path.join(FIXTURES, case["entry"]), to)
        os.chmod(to, 0o644)

    if setup == "absent":
        return d
    if setup == "fifo":
        os.mkfifo(entry_path, 0o644)
        return d
    if setup == "too_large":
        with open(entry_path, "wb") as f:
            f.write(b" " * (max_bytes + 1))
        return d
    if setup == "symlink":
        copy_entry(os.path.join(d, "elsewhere.json"))
        os.symlink("elsewhere.json", entry_path)
        return d
    copy_entry(entry_path)
    if setup == "none":
        pass
    elif setup == "hardlink":
        os.link(entry_path, os.path.join(d, "second.json"))
    elif setup == "chown_65534":
        os.chown(entry_path, 65534, 65534)
    elif setup == "chmod_0666":
        os.chmod(entry_path, 0o666)
    elif setup == "dir_chmod_0775":
        os.chmod(d, 0o775)
    elif setup == "dir_symlink":
        os.symlink(d, d + ".link")
        return d + ".link"
    else:
        raise AssertionError("unknown setup " + setup)
    return d


class SharedFixtures(unittest.TestCase):
    def test_every_case(self):
        with open(os.path.join(FIXTURES, "cases.json")) as f:
            doc = json.load(f)
        self.assertEqual(doc["max_entry_bytes"], offsetprobe.MAX_ENTRY_BYTES)
        self.assertGreaterEqual(len(doc["cases"]), 20)
        k = offsetprobe.KernelId(doc["build_id"], True, doc["release"])
        root = os.geteuid() == 0
        for case in doc["cases"]:
            with self.subTest(case=case["name"]):
                if case.get("root_only") and not root:
                    if os.environ.get("CI") == "true":
                        self.fail("%s needs root, and CI=true" % case["name"])
                    continue  # the rule applies as root only
                d = tempfile.mkdtemp(prefix="offsetprobe-fixture-")
                try:
                    os.chmod(d, 0o755)
                    given = set_up(case, d, offsetprobe.entry_file_name(k.build_id),
                                   doc["max_entry_bytes"])
                    err, offs = None, None
                    try:
                        offs = offsetprobe.load_offsets_for(given, k)
                    except offsetprobe.Error as e:
                        err = e
                    self.assertEqual(offsetprobe.verdict(err), case["verdict"], str(err))
                    if case["verdict"] == "ok":
                        got = {n: f.offset for n, f in offs.fields.items()}
                        self.assertEqual(got, case["offsets"])
                        self.assertEqual(dict(offs.omitted), case["omitted"])
                    else:
                        self.assertTrue(err.message)
                finally:
                    if os.path.islink(d + ".link"):
                        os.unlink(d + ".link")
                    shutil.rmtree(d)


class Reader(unittest.TestCase):
    def test_errors_are_typed(self):
        d = tempfile.mkdtemp()
        try:
            with self.assertRaises(offsetprobe.NotFound) as cm:
                offsetprobe.load_offsets_for(d, offsetprobe.KernelId("0123456789abcdef", True))
            self.assertTrue(cm.exception.message.startswith("not calibrated"))
            self.assertIsInstance(cm.exception, offsetprobe.Error)
            with self.assertRaises(offsetprobe.NoKernelId):
                offsetprobe.load_offsets_for(d, offsetprobe.KernelId("../../etc/passwd", True))
        finally:
            shutil.rmtree(d)
        old = os.environ.get(offsetprobe.CACHE_DIR_ENV)
        os.environ[offsetprobe.CACHE_DIR_ENV] = "not/absolute"
        try:
            with self.assertRaises(offsetprobe.BadCacheDir):
                offsetprobe.load_offsets()
        finally:
            if old is None:
                del os.environ[offsetprobe.CACHE_DIR_ENV]
            else:
                os.environ[offsetprobe.CACHE_DIR_ENV] = old

    def test_gnu_build_id(self):
        import struct

        def note(name, typ, desc):
            n = name.encode() + b"\0"
            pad = lambda b: b + b"\0" * (-len(b) % 4)  # noqa: E731
            return struct.pack("<III", len(n), len(desc), typ) + pad(n) + pad(desc)
        blob = note("Xen", 3, b"\1\2\3") + note("GNU", 3, b"\xde\xad\xbe\xef")
        self.assertEqual(offsetprobe.parse_gnu_build_id(blob), "deadbeef")
        self.assertIsNone(offsetprobe.parse_gnu_build_id(blob[:-2]))
        k = offsetprobe.make_kernel_id(None, "Linux version x", "6.1", "#1", "x86_64")
        self.assertFalse(k.strong)
        self.assertTrue(offsetprobe.valid_build_id(k.build_id))

    def test_bcc_cflags(self):
        with open(os.path.join(FIXTURES, "validation_failed.json"), "rb") as f:
            offs = offsetprobe.parse_entry(f.read(), "fixture")
        flags = offsetprobe.bcc_cflags(offs, required=["task_struct.group_leader"])
        self.assertIn("-DOFFSETPROBE_TASK_STRUCT_GROUP_LEADER=2496", flags)
        self.assertIn("-DOFFSETPROBE_TASK_STRUCT_REAL_START_TIME=2696", flags)
        self.assertIn("-DOFFSETPROBE_CRED_UID=8", flags)
        self.assertEqual(flags[-2:], ["-DGROUP_LEADER_OFFSET_OVERRIDE=2496",
                                      "-DSTART_BOOTTIME_OFFSET_OVERRIDE=2696"])
        self.assertFalse([f for f in flags if "EXIT_CODE" in f])  # validation failed
        with self.assertRaises(offsetprobe.FieldUnknown):
            offsetprobe.bcc_cflags(offs, required=["task_struct.exit_code"])

    def test_bcc_cflags_equal_the_export(self):
        """bcc_cflags() and `offsetprobe export --format bcc-cflags` print the
        same flags for the same entry."""
        exe = os.environ.get("OFFSETPROBE_BIN")
        if not exe:
            self.skipTest("OFFSETPROBE_BIN not set (run through meson test)")
        import subprocess
        k = offsetprobe.read_kernel_id()
        d = tempfile.mkdtemp()
        try:
            os.chmod(d, 0o755)
            with open(os.path.join(FIXTURES, "ambiguous_field.json")) as f:
                text = f.read().replace(VALID_BUILD_ID, k.build_id)
            text = text.replace('"gnu-build-id"', '"%s"' % k.source)
            path = os.path.join(d, offsetprobe.entry_file_name(k.build_id))
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
            out = subprocess.run([exe, "export", "--format", "bcc-cflags", "--cache-dir", d],
                                 check=True, capture_output=True, text=True).stdout
            self.assertEqual(offsetprobe.bcc_cflags(offsetprobe.load_offsets(d)), out.split())
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
